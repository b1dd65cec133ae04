package dev.petface.core

import java.nio.ByteBuffer

/**
 * Executes one artifact: fills [output] from [input], both already in the artifact's
 * contract (see [TensorCodec]). The app implements it with LiteRT's `Interpreter` (GPU
 * delegate or XNNPACK); the JVM tests with LiteRT's C API through JNA. Nothing else differs
 * between the two, which is what lets the JVM tests vouch for the app.
 */
interface TensorRunner : AutoCloseable {
    /** A short description for logs and the UI, e.g. "LiteRT GPU" or "LiteRT CPU (XNNPACK, 4 threads)". */
    val description: String

    fun run(input: ByteBuffer, output: ByteBuffer)
}

/**
 * Pixels in, unit embeddings out, for one manifest artifact: the crop policy, PIL-exact resize, the input
 * contract, the runner, the output contract. Images go through one at a time when the
 * artifact has a fixed batch of 1 (every TFLite export does).
 */
class PetEmbedder(val artifact: Artifact, private val runner: TensorRunner) : AutoCloseable {
    val dim: Int get() = artifact.output.dim
    val runnerDescription: String get() = runner.description

    init {
        require(artifact.input.batch == null || artifact.input.batch == 1) {
            "artifact ${artifact.id} takes a fixed batch of ${artifact.input.batch}; the app feeds one image at a time"
        }
    }

    /**
     * The model input pixels for an upright [image]: cut by the [CropPolicy] (its centred square, or
     * the square around a [face] box), then a PIL-bilinear resize to the contract's square size.
     */
    fun preprocess(image: RgbImage, face: Box? = null, margin: Double = CropPolicy.FACE_MARGIN): RgbImage =
        PilResize.resizeSquare(CropPolicy.crop(image, face, margin), artifact.input.size)

    /** The L2-normalized embedding of one upright image (any size; cropped and resized here). */
    fun embed(image: RgbImage, face: Box? = null, margin: Double = CropPolicy.FACE_MARGIN): FloatArray =
        embedPixels(preprocess(image, face, margin))

    /** The embedding of pixels already resized to the contract's size. */
    fun embedPixels(pixels: RgbImage): FloatArray {
        val input = TensorCodec.encode(listOf(pixels), artifact.input)
        val output = TensorCodec.outputBuffer(artifact.output, 1)
        runner.run(input, output)
        return TensorCodec.decode(output, artifact.output, 1)[0]
    }

    fun embedAll(images: List<RgbImage>): List<FloatArray> = images.map { embed(it) }

    override fun close() = runner.close()
}
