#if canImport(CoreML)
import CoreML
import Foundation

/// Runs an exported CoreML artifact (`pet_embedder_*.mlpackage`) on pixels, under the manifest's contract:
/// PIL-exact resize, NCHW float RGB 0..255 into the input named in the manifest (the model does the
/// ImageNet normalization itself), the named output dequantized if needed and L2-normalized.
public final class CoreMLEmbedder: @unchecked Sendable {
    /// CoreML artifacts in the order the app prefers them: FP16 suits the Neural Engine best.
    public static let preferredArtifacts = ["coreml-fp16", "coreml-fp32", "coreml-w8", "coreml-w8a8"]

    public let manifest: Manifest
    public let artifact: Artifact
    public let input: InputContract
    public let output: OutputContract
    private let model: MLModel

    /// Opens `artifactID` (or the first usable CoreML artifact whose file is present) from `manifest`.
    /// The package's sha256 is checked against the manifest first (`IntegrityError` when it differs). An
    /// `.mlpackage` is compiled once and the compiled model cached under Caches (rebuilt if purged).
    /// `computeUnits`: where CoreML may run it (all, CPU and Neural Engine, CPU and GPU, CPU only).
    public init(manifest: Manifest, artifactID: String? = nil, computeUnits: MLComputeUnits = .all) async throws {
        let artifact: Artifact
        if let id = artifactID {
            artifact = try manifest.artifact(id: id)
        } else if let found = manifest.preferredArtifact(format: "coreml", preferring: CoreMLEmbedder.preferredArtifacts) {
            artifact = found
        } else {
            throw ContractError("\(manifest.directory.path): no usable CoreML artifact (have "
                                + "\(manifest.artifacts.map { "\($0.id): \($0.status)" })); add one with ios_demo/add_model.sh")
        }
        guard artifact.format == "coreml", !artifact.failed else {
            throw ContractError("\(artifact.id) is a \(artifact.format) artifact with status '\(artifact.status)'; "
                                + "the iOS app runs CoreML artifacts that did not fail")
        }
        guard let input = artifact.input, let output = artifact.output else {
            throw ContractError("\(artifact.id): the manifest gives no input/output contract")
        }
        guard input.layout == .nchw, input.dtype == .float32 || input.dtype == .float16 else {
            throw ContractError("\(artifact.id): expected an NCHW float input, the manifest says \(input.layout.rawValue) "
                                + "\(input.dtype.rawValue)")
        }
        try ArtifactIntegrity.verify(artifact, in: manifest)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        let model = try MLModel(contentsOf: try await CoreMLEmbedder.compiled(manifest.url(of: artifact), artifact: artifact),
                                configuration: configuration)
        let description = model.modelDescription
        guard description.inputDescriptionsByName[input.name] != nil else {
            throw ContractError("\(artifact.path) has no input '\(input.name)' (it has \(description.inputDescriptionsByName.keys.sorted()))")
        }
        guard description.outputDescriptionsByName[output.name] != nil else {
            throw ContractError("\(artifact.path) has no output '\(output.name)' (it has \(description.outputDescriptionsByName.keys.sorted()))")
        }
        self.manifest = manifest
        self.artifact = artifact
        self.input = input
        self.output = output
        self.model = model
    }

    /// The embedding of one upright RGB image (any size; resized here like the Python runtime).
    public func embed(_ image: RGBImage) throws -> [Float] {
        let pixels = try Contract.pixels(for: image, contract: input)
        guard case .float(let values) = try Contract.inputTensor(pixels: pixels, contract: input) else {
            throw ContractError("\(artifact.id): CoreML input must be float")
        }
        let shape = input.shape(batch: 1).map { NSNumber(value: $0) }
        let array = try MLMultiArray(shape: shape, dataType: input.dtype == .float16 ? .float16 : .float32)
        if input.dtype == .float32 {
            array.withUnsafeMutableBufferPointer(ofType: Float.self) { buffer, _ in
                // A freshly made MLMultiArray is dense and C-ordered: NCHW offsets are the flat indices.
                for i in 0..<values.count { buffer[i] = values[i] }
            }
        } else {
            for i in 0..<values.count { array[i] = NSNumber(value: values[i]) }
        }
        let features = try MLDictionaryFeatureProvider(dictionary: [input.name: MLFeatureValue(multiArray: array)])
        let result = try model.prediction(from: features)
        guard let out = result.featureValue(for: output.name)?.multiArrayValue else {
            throw ContractError("\(artifact.path) returned no multi-array '\(output.name)'")
        }
        return try Contract.embedding(from: (0..<out.count).map { out[$0].floatValue }, contract: output)
    }

    /// The compiled model for `url`: as is when already `.mlmodelc`, else compiled once and cached,
    /// keyed by the artifact's sha256 so a new export is recompiled. Caches, not Application Support:
    /// it can be rebuilt, so it is neither backed up nor kept when the system needs room.
    private static func compiled(_ url: URL, artifact: Artifact) async throws -> URL {
        if url.pathExtension == "mlmodelc" { return url }
        let cache = try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask,
                                                appropriateFor: nil, create: true)
            .appendingPathComponent("PetFaceKit", isDirectory: true)
        let key = artifact.sha256.isEmpty ? artifact.id : String(artifact.sha256.prefix(16))
        let target = cache.appendingPathComponent("\(artifact.id)-\(key).mlmodelc", isDirectory: true)
        if FileManager.default.fileExists(atPath: target.path) { return target }
        let temporary = try await MLModel.compileModel(at: url)
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.moveItem(at: temporary, to: target)
        return target
    }
}
#endif
