package dev.petface.core

/**
 * `manifest.json` as written by `petface-export` (schema: `petface_edge/runtime/manifest.py`).
 *
 * Only what an on-device client needs is read: each artifact's file, status, input/output
 * contract and thresholds, and the model fingerprint that galleries are bound to. Unknown
 * fields are ignored, so the export side can add fields without breaking the app.
 */
class ManifestException(message: String) : IllegalArgumentException(message)

/** Affine quantization: `real = scale * (q - zeroPoint)`. */
data class Quantization(val scale: Double, val zeroPoint: Int)

enum class Layout { NHWC, NCHW }

enum class DType(val bytes: Int) {
    FLOAT32(4), INT8(1), UINT8(1);

    companion object {
        fun of(name: String, where: String): DType = when (name) {
            "float32" -> FLOAT32
            "int8" -> INT8
            "uint8" -> UINT8
            else -> throw ManifestException("$where: dtype '$name' is not supported by the Kotlin client (float32, int8, uint8)")
        }
    }
}

data class InputContract(
    val name: String,
    val layout: Layout,
    val dtype: DType,
    val size: Int,
    /** `null`: any batch size; otherwise the artifact only takes this batch. */
    val batch: Int?,
    val quantization: Quantization?,
) {
    /** Elements of one image in the input tensor. */
    val imageElements: Int get() = 3 * size * size
}

data class OutputContract(val name: String, val dtype: DType, val dim: Int, val quantization: Quantization?)

data class Artifact(
    val id: String,
    val format: String,
    val precision: String,
    /** File path relative to the manifest's directory. */
    val path: String,
    val status: String,
    val input: InputContract,
    val output: OutputContract,
    val sha256: String,
    /** Cosine thresholds measured by direct counts: "far_1e-2", "far_1e-3", "far_1e-4", "best_accuracy". */
    val thresholds: Map<String, Double>,
    /** The verify / identify decision tables (null: the manifest predates them). */
    val tables: DecisionTables? = null,
) {
    val shippable: Boolean get() = status == "passed"

    /** The decision policies the Python runtime uses; an artifact exported before them must be re-exported. */
    val decisions: DecisionTables
        get() = tables ?: throw ManifestException("artifact $id has no verify/identify calibration in its manifest; re-export it")
}

data class Manifest(
    val schemaVersion: Int,
    val fingerprint: String,
    val backbone: String,
    val imageSize: Int,
    val embeddingDim: Int,
    val artifacts: List<Artifact>,
    /** Artifacts this client cannot run (failed export, float16 tensors, ...), with the reason. */
    val skipped: Map<String, String> = emptyMap(),
) {
    fun artifact(id: String): Artifact = artifacts.firstOrNull { it.id == id }
        ?: throw ManifestException(skipped[id]?.let { "artifact '$id' cannot be used: $it" }
            ?: "no artifact '$id' in manifest; have ${artifacts.map { it.id }}")

    companion object {
        const val SCHEMA = "petface-manifest"
        const val SCHEMA_VERSION = 1

        /** Parses manifest text; [where] (a path or asset name) prefixes every error message. */
        fun parse(text: String, where: String = "manifest.json"): Manifest {
            val root = try {
                JsonFields.parse(text, where)
            } catch (e: JsonFields.FieldException) {
                throw ManifestException(e.message!!)
            }
            if (root.raw("schema") != SCHEMA) throw ManifestException("$where: not a petface manifest (expected schema '$SCHEMA')")
            return try {
                // schema_version is the major version: only ours opens. A newer schema_minor only adds fields,
                // which this reader ignores (it reads the keys it knows and never rejects extra ones).
                val version = root.int("schema_version")
                if (version != SCHEMA_VERSION) {
                    throw ManifestException("$where: manifest schema version $version is not supported: this app reads version $SCHEMA_VERSION (any minor)")
                }
                val model = root.obj("model")
                val usable = ArrayList<Artifact>()
                val skipped = LinkedHashMap<String, String>()
                for (a in root.objects("artifacts")) {
                    val id = a.string("id")
                    try {
                        if (!a.has("input") || !a.has("output")) throw ManifestException("status '${a.optString("status", "?")}', no tensor contract")
                        usable.add(artifact(a))
                    } catch (e: ManifestException) {
                        skipped[id] = e.message!!
                    }
                }
                Manifest(
                    schemaVersion = version,
                    fingerprint = model.string("checkpoint_sha256"),
                    backbone = model.optString("backbone", ""),
                    imageSize = model.int("image_size"),
                    embeddingDim = model.int("embedding_dim"),
                    artifacts = usable,
                    skipped = skipped,
                )
            } catch (e: JsonFields.FieldException) {
                throw ManifestException(e.message!!)
            }
        }

        private fun quantization(f: JsonFields?): Quantization? = f?.let { Quantization(it.double("scale"), it.int("zero_point")) }

        private fun artifact(a: JsonFields): Artifact {
            val inp = a.obj("input")
            val out = a.obj("output")
            // The contract a client can honour: RGB 0..255, PIL-bilinear resize, normalization inside the graph.
            for ((key, want) in listOf("color" to "RGB", "resize" to "pil_bilinear", "normalization" to "in_graph")) {
                val got = inp.optString(key, want)
                if (got != want) throw ManifestException("${inp.where}: $key '$got' is not supported (expected '$want')")
            }
            if (inp.has("range") && inp.list("range").map { (it as? Number)?.toDouble() } != listOf(0.0, 255.0)) {
                throw ManifestException("${inp.where}: pixel range ${inp.list("range")} is not supported (expected [0, 255])")
            }
            val layout = when (val l = inp.string("layout")) {
                "NHWC" -> Layout.NHWC
                "NCHW" -> Layout.NCHW
                else -> throw ManifestException("${inp.where}: layout '$l' is not NHWC or NCHW")
            }
            val thresholds = a.optObj("thresholds")?.let { t ->
                t.keys.filter { t.raw(it) is Number }.associateWith { t.double(it) }
            } ?: emptyMap()
            val input = InputContract(
                name = inp.optString("name", ""),
                layout = layout,
                dtype = DType.of(inp.string("dtype"), inp.where),
                size = inp.int("size"),
                batch = inp.optInt("batch"),
                quantization = quantization(inp.optObj("quantization")),
            )
            val output = OutputContract(
                name = out.optString("name", ""),
                dtype = DType.of(out.string("dtype"), out.where),
                dim = out.int("dim"),
                quantization = quantization(out.optObj("quantization")),
            )
            for ((c, q, dtype) in listOf(Triple(inp, input.quantization, input.dtype), Triple(out, output.quantization, output.dtype))) {
                if (dtype != DType.FLOAT32 && q == null) throw ManifestException("${c.where}: ${dtype.name.lowercase()} tensor without quantization parameters")
            }
            return Artifact(
                id = a.string("id"),
                format = a.string("format"),
                precision = a.string("precision"),
                path = a.string("path"),
                status = a.string("status"),
                input = input,
                output = output,
                sha256 = a.optString("sha256", ""),
                thresholds = thresholds,
                tables = DecisionTables.parse(a.optObj("thresholds"), a.string("id")),
            )
        }
    }
}
