package dev.petface.core

import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference
import java.io.File
import java.nio.ByteBuffer

/**
 * Runs a real `.tflite` file on the JVM through LiteRT's C API (`libLiteRt.so` from the
 * `ai-edge-litert` wheel), called with JNA: the test double of the app's `Interpreter`
 * runner, with the same [TensorRunner] contract. Signatures are those of the wheel's LiteRT 2.x
 * (`LiteRtCreateModelFromFile` takes the environment first; `size_t` / `LiteRtParamIndex` are
 * `Long` on 64-bit). It exports the LiteRt* compiled-model API, not the older TfLite* C API.
 * CPU accelerator (XNNPACK) only.
 */
class LiteRtRunner(model: File, library: File) : TensorRunner {
    @Suppress("FunctionName")
    private interface LiteRt : Library {
        fun LiteRtCreateEnvironment(numOptions: Int, options: Pointer?, env: PointerByReference): Int
        fun LiteRtDestroyEnvironment(env: Pointer)
        fun LiteRtCreateModelFromFile(env: Pointer, path: String, model: PointerByReference): Int
        fun LiteRtDestroyModel(model: Pointer)
        fun LiteRtGetModelSignature(model: Pointer, index: Long, signature: PointerByReference): Int
        fun LiteRtGetSignatureInputTensorByIndex(signature: Pointer, index: Long, tensor: PointerByReference): Int
        fun LiteRtGetSignatureOutputTensorByIndex(signature: Pointer, index: Long, tensor: PointerByReference): Int
        fun LiteRtGetRankedTensorType(tensor: Pointer, type: Pointer): Int
        fun LiteRtGetQuantizationTypeId(tensor: Pointer, id: Pointer): Int
        fun LiteRtGetPerTensorQuantization(tensor: Pointer, q: Pointer): Int
        fun LiteRtCreateOptions(options: PointerByReference): Int
        fun LiteRtSetOptionsHardwareAccelerators(options: Pointer, accelerators: Int): Int
        fun LiteRtDestroyOptions(options: Pointer)
        fun LiteRtCreateCompiledModel(env: Pointer, model: Pointer, options: Pointer, compiled: PointerByReference): Int
        fun LiteRtDestroyCompiledModel(compiled: Pointer)
        fun LiteRtCompiledModelResizeInputTensor(compiled: Pointer, signature: Long, index: Long, dims: IntArray, rank: Long): Int
        fun LiteRtGetCompiledModelInputBufferRequirements(compiled: Pointer, signature: Long, index: Long, req: PointerByReference): Int
        fun LiteRtGetCompiledModelOutputBufferRequirements(compiled: Pointer, signature: Long, index: Long, req: PointerByReference): Int
        fun LiteRtCreateManagedTensorBufferFromRequirements(env: Pointer, type: Pointer, req: Pointer, buffer: PointerByReference): Int
        fun LiteRtGetTensorBufferPackedSize(buffer: Pointer, size: Pointer): Int
        fun LiteRtLockTensorBuffer(buffer: Pointer, address: PointerByReference, mode: Int): Int
        fun LiteRtUnlockTensorBuffer(buffer: Pointer): Int
        fun LiteRtDestroyTensorBuffer(buffer: Pointer)
        fun LiteRtRunCompiledModel(compiled: Pointer, signature: Long, numInputs: Long, inputs: Pointer, numOutputs: Long, outputs: Pointer): Int
    }

    /** Element type, shape and per-tensor quantization of a model tensor, as the .tflite file declares them. */
    data class TensorInfo(val elementType: Int, val shape: List<Int>, val quantization: Quantization?) {
        val dtype: String get() = ELEMENT_TYPES[elementType] ?: "type $elementType"
    }

    private val lib: LiteRt = Native.load(library.absolutePath, LiteRt::class.java)
    private val env: Pointer
    private val model: Pointer
    private val options: Pointer
    private val compiled: Pointer
    private val inputBuffer: Pointer
    private val outputBuffer: Pointer
    private val inputSize: Long
    private val outputSize: Long
    val input: TensorInfo
    val output: TensorInfo
    override val description = "LiteRT C API (CPU) via JNA"

    init {
        require(library.isFile) { "$library: no such file (LiteRT's libLiteRt.so from the ai-edge-litert wheel)" }
        require(model.isFile) { "$model: no such model file" }
        env = create("create environment") { lib.LiteRtCreateEnvironment(0, null, it) }
        this.model = create("load $model") { lib.LiteRtCreateModelFromFile(env, model.absolutePath, it) }
        options = create("create options") { lib.LiteRtCreateOptions(it) }
        check(lib.LiteRtSetOptionsHardwareAccelerators(options, HW_CPU), "select the CPU accelerator")
        compiled = create("compile $model") { lib.LiteRtCreateCompiledModel(env, this.model, options, it) }
        val signature = create("get signature 0") { lib.LiteRtGetModelSignature(this.model, 0, it) }
        val inTensor = create("get input 0") { lib.LiteRtGetSignatureInputTensorByIndex(signature, 0, it) }
        val outTensor = create("get output 0") { lib.LiteRtGetSignatureOutputTensorByIndex(signature, 0, it) }
        val inType = tensorType(inTensor)
        val outType = tensorType(outTensor)
        input = info(inTensor, inType)
        output = info(outTensor, outType)
        // A dynamic batch (-1) is fixed to 1, as the Interpreter does by default: one image per run.
        if (input.shape.first() < 0) {
            val dims = input.shape.toIntArray().also { it[0] = 1 }
            check(lib.LiteRtCompiledModelResizeInputTensor(compiled, 0, 0, dims, dims.size.toLong()), "set the batch to 1")
            inType.setInt(8, 1)
        }
        if (output.shape.first() < 0) outType.setInt(8, 1)
        val inReq = create("input requirements") { lib.LiteRtGetCompiledModelInputBufferRequirements(compiled, 0, 0, it) }
        val outReq = create("output requirements") { lib.LiteRtGetCompiledModelOutputBufferRequirements(compiled, 0, 0, it) }
        inputBuffer = create("input buffer") { lib.LiteRtCreateManagedTensorBufferFromRequirements(env, inType, inReq, it) }
        outputBuffer = create("output buffer") { lib.LiteRtCreateManagedTensorBufferFromRequirements(env, outType, outReq, it) }
        inputSize = packedSize(inputBuffer)
        outputSize = packedSize(outputBuffer)
    }

    override fun run(input: ByteBuffer, output: ByteBuffer) {
        val inBytes = input.duplicate().apply { rewind() }
        require(inBytes.remaining().toLong() == inputSize) { "input holds ${inBytes.remaining()} bytes, the model takes $inputSize" }
        require(output.capacity().toLong() == outputSize) { "output holds ${output.capacity()} bytes, the model gives $outputSize" }
        withLock(inputBuffer, LOCK_WRITE) { address ->
            address.write(0, ByteArray(inBytes.remaining()).also { inBytes.get(it) }, 0, inputSize.toInt())
        }
        val ins = Memory(Native.POINTER_SIZE.toLong()).apply { setPointer(0, inputBuffer) }
        val outs = Memory(Native.POINTER_SIZE.toLong()).apply { setPointer(0, outputBuffer) }
        check(lib.LiteRtRunCompiledModel(compiled, 0, 1, ins, 1, outs), "run the model")
        withLock(outputBuffer, LOCK_READ) { address ->
            output.clear()
            output.put(address.getByteArray(0, outputSize.toInt()))
            output.rewind()
        }
    }

    override fun close() {
        lib.LiteRtDestroyTensorBuffer(inputBuffer)
        lib.LiteRtDestroyTensorBuffer(outputBuffer)
        lib.LiteRtDestroyCompiledModel(compiled)
        lib.LiteRtDestroyOptions(options)
        lib.LiteRtDestroyModel(model)
        lib.LiteRtDestroyEnvironment(env)
    }

    private fun withLock(buffer: Pointer, mode: Int, body: (Pointer) -> Unit) {
        val address = create("lock tensor buffer") { lib.LiteRtLockTensorBuffer(buffer, it, mode) }
        try {
            body(address)
        } finally {
            check(lib.LiteRtUnlockTensorBuffer(buffer), "unlock tensor buffer")
        }
    }

    private fun packedSize(buffer: Pointer): Long {
        val size = Memory(8)
        check(lib.LiteRtGetTensorBufferPackedSize(buffer, size), "get buffer size")
        return size.getLong(0)
    }

    /** A LiteRtRankedTensorType (72 bytes on 64-bit; the memory is kept for buffer creation). */
    private fun tensorType(tensor: Pointer): Memory =
        Memory(RANKED_TENSOR_TYPE_BYTES).also { check(lib.LiteRtGetRankedTensorType(tensor, it), "get tensor type") }

    private fun info(tensor: Pointer, type: Memory): TensorInfo {
        // struct { LiteRtElementType element_type; struct { unsigned rank : 7; unsigned has_strides : 1;
        //   int32_t dimensions[8]; uint32_t strides[8]; } layout; }
        val rank = type.getInt(4) and 0x7F
        val shape = List(rank) { type.getInt(8L + 4 * it) }
        val qType = Memory(4).also { check(lib.LiteRtGetQuantizationTypeId(tensor, it), "get quantization type") }.getInt(0)
        val quantization = when (qType) {
            Q_NONE -> null
            Q_PER_TENSOR -> Memory(16).let { // struct { float scale; int64_t zero_point; }
                check(lib.LiteRtGetPerTensorQuantization(tensor, it), "get quantization")
                Quantization(it.getFloat(0).toDouble(), it.getLong(8).toInt())
            }
            else -> throw IllegalStateException("tensor has quantization type $qType; the client handles per-tensor only")
        }
        return TensorInfo(type.getInt(0), shape, quantization)
    }

    private fun check(status: Int, what: String) {
        if (status != 0) throw IllegalStateException("LiteRT: cannot $what (LiteRtStatus $status)")
    }

    private inline fun create(what: String, call: (PointerByReference) -> Int): Pointer {
        val ref = PointerByReference()
        check(call(ref), what)
        return ref.value ?: throw IllegalStateException("LiteRT: $what returned null")
    }

    companion object {
        private const val HW_CPU = 1
        private const val LOCK_READ = 0
        private const val LOCK_WRITE = 1
        private const val Q_NONE = 0
        private const val Q_PER_TENSOR = 1
        private const val RANKED_TENSOR_TYPE_BYTES = 72L
        private val ELEMENT_TYPES = mapOf(1 to "float32", 3 to "uint8", 9 to "int8", 10 to "float16")
    }
}
