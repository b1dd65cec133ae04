import Foundation

/// `manifest.json` written by `petface-export`: the artifacts it built and the contract each obeys.
///
/// Mirrors `petface_edge/runtime/manifest.py` (schema `petface-manifest`, version 1, any minor). Fields the
/// app does not use (parity, tools, producer) are kept as free-form JSON so nothing is lost.
public struct Manifest: Sendable {
    public static let schema = "petface-manifest"
    public static let schemaVersion = 1

    public let schemaVersion: Int
    public let model: [String: JSONValue]
    public let artifacts: [Artifact]
    public let producer: [String: JSONValue]
    public let verification: [String: JSONValue]
    public let created: String
    /// The folder holding `manifest.json`; artifact paths are relative to it.
    public let directory: URL

    /// Identity of the trained weights every artifact was built from; galleries are bound to it.
    public var fingerprint: String { model["checkpoint_sha256"]?.stringValue ?? "" }
    public var imageSize: Int? { model["image_size"]?.intValue }
    public var embeddingDim: Int? { model["embedding_dim"]?.intValue }
    public var backbone: String? { model["backbone"]?.stringValue }

    /// Reads `url` (a `manifest.json` or the export folder that holds one).
    public static func load(from url: URL) throws -> Manifest {
        var isDir: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
            ? url.appendingPathComponent("manifest.json") : url
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ManifestError(file, "no manifest.json (expected a petface-export output directory)")
        }
        return try parse(data, directory: file.deletingLastPathComponent(), source: file)
    }

    /// Parses manifest JSON; `directory` anchors the relative artifact paths.
    public static func parse(_ data: Data, directory: URL, source: URL? = nil) throws -> Manifest {
        let origin = source ?? directory.appendingPathComponent("manifest.json")
        let raw: Any
        do {
            raw = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ManifestError(origin, "not valid JSON (\(error.localizedDescription))")
        }
        guard let top = raw as? [String: Any], top["schema"] as? String == schema else {
            throw ManifestError(origin, "not a petface manifest (expected schema '\(schema)')")
        }
        // schema_version is the major version: only ours opens. A newer schema_minor only adds fields, which
        // the decoder ignores (Decodable skips keys it does not declare).
        let version = (top["schema_version"] as? Int) ?? 0
        if version != schemaVersion {
            throw ManifestError(origin, "manifest schema version \(top["schema_version"].map { "\($0)" } ?? "missing") "
                + "is not supported: this PetFaceKit reads version \(schemaVersion) (any minor)")
        }
        do {
            let body = try JSONDecoder().decode(Body.self, from: data)
            return Manifest(schemaVersion: version, model: body.model ?? [:], artifacts: body.artifacts ?? [],
                            producer: body.producer ?? [:], verification: body.verification ?? [:],
                            created: body.created ?? "", directory: directory)
        } catch let error as DecodingError {
            throw ManifestError(origin, "malformed manifest (\(describe(error)))")
        }
    }

    public func artifact(id: String) throws -> Artifact {
        guard let found = artifacts.first(where: { $0.id == id }) else {
            throw ManifestError(directory.appendingPathComponent("manifest.json"),
                                "no artifact '\(id)'; have \(artifacts.map(\.id))")
        }
        return found
    }

    /// Where `artifact`'s file lives on disk.
    public func url(of artifact: Artifact) -> URL {
        directory.appendingPathComponent(artifact.path)
    }

    /// The first usable artifact of `format`, in the order of `preferring` ids, then any other. Usable: not
    /// failed, with input/output contracts, and (with `requireFile`) its file beside the manifest. CoreML
    /// artifacts exported on Linux are "not verifiable here" (CoreML cannot predict there), so usable
    /// means "not failed", not "passed".
    public func preferredArtifact(format: String, preferring ids: [String] = [], requireFile: Bool = true) -> Artifact? {
        let usable = artifacts.filter {
            $0.format == format && !$0.failed && $0.input != nil && $0.output != nil
                && (!requireFile || FileManager.default.fileExists(atPath: url(of: $0).path))
        }
        for id in ids {
            if let hit = usable.first(where: { $0.id == id }) { return hit }
        }
        return usable.first
    }

    private struct Body: Decodable {
        let model: [String: JSONValue]?
        let artifacts: [Artifact]?
        let producer: [String: JSONValue]?
        let verification: [String: JSONValue]?
        let created: String?
    }
}

/// A manifest that is missing, malformed, or from a newer schema; the message names the file.
public struct ManifestError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    init(_ file: URL, _ problem: String) { message = "\(file.path): \(problem)" }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Affine quantization: `real = scale * (q - zeroPoint)`.
public struct Quantization: Codable, Equatable, Sendable {
    public let scale: Double
    public let zeroPoint: Int

    public init(scale: Double, zeroPoint: Int) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    enum CodingKeys: String, CodingKey {
        case scale
        case zeroPoint = "zero_point"
    }
}

public enum TensorLayout: String, Codable, Sendable {
    case nchw = "NCHW"
    case nhwc = "NHWC"
}

public enum TensorDType: String, Codable, Sendable {
    case float32, float16, int8, uint8
}

/// How RGB pixels become this artifact's input tensor (see `InputContract` in manifest.py).
public struct InputContract: Decodable, Equatable, Sendable {
    public let name: String
    public let layout: TensorLayout
    public let dtype: TensorDType
    public let size: Int
    /// nil: any batch size.
    public let batch: Int?
    public let color: String
    public let range: [Double]
    public let resize: String
    /// "in_graph": ImageNet mean/std are inside the model; clients pass RGB 0..255.
    public let normalization: String
    public let quantization: Quantization?

    public init(name: String, layout: TensorLayout, dtype: TensorDType, size: Int, batch: Int? = nil,
                quantization: Quantization? = nil) {
        self.name = name
        self.layout = layout
        self.dtype = dtype
        self.size = size
        self.batch = batch
        color = "RGB"
        range = [0, 255]
        resize = "pil_bilinear"
        normalization = "in_graph"
        self.quantization = quantization
    }

    /// The tensor shape for batch `n` in this layout.
    public func shape(batch n: Int = 1) -> [Int] {
        layout == .nchw ? [n, 3, size, size] : [n, size, size, 3]
    }

    enum CodingKeys: String, CodingKey {
        case name, layout, dtype, size, batch, color, range, resize, normalization, quantization
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        layout = try c.decode(TensorLayout.self, forKey: .layout)
        dtype = try c.decode(TensorDType.self, forKey: .dtype)
        size = try c.decode(Int.self, forKey: .size)
        batch = try c.decodeIfPresent(Int.self, forKey: .batch)
        color = try c.decodeIfPresent(String.self, forKey: .color) ?? "RGB"
        range = try c.decodeIfPresent([Double].self, forKey: .range) ?? [0, 255]
        resize = try c.decodeIfPresent(String.self, forKey: .resize) ?? "pil_bilinear"
        normalization = try c.decodeIfPresent(String.self, forKey: .normalization) ?? "in_graph"
        quantization = try c.decodeIfPresent(Quantization.self, forKey: .quantization)
    }
}

/// What the artifact returns: a `dim`-vector, possibly quantized, (approximately) unit length.
public struct OutputContract: Decodable, Equatable, Sendable {
    public let name: String
    public let dtype: TensorDType
    public let dim: Int
    public let l2Normalized: Bool
    public let quantization: Quantization?

    public init(name: String, dtype: TensorDType, dim: Int, quantization: Quantization? = nil) {
        self.name = name
        self.dtype = dtype
        self.dim = dim
        l2Normalized = true
        self.quantization = quantization
    }

    enum CodingKeys: String, CodingKey {
        case name, dtype, dim, quantization
        case l2Normalized = "l2_normalized"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        dtype = try c.decode(TensorDType.self, forKey: .dtype)
        dim = try c.decode(Int.self, forKey: .dim)
        l2Normalized = try c.decodeIfPresent(Bool.self, forKey: .l2Normalized) ?? true
        quantization = try c.decodeIfPresent(Quantization.self, forKey: .quantization)
    }
}

/// One exported model file (`onnx-fp32`, `coreml-fp16`, `tflite-int8`, ...).
public struct Artifact: Decodable, Sendable {
    public let id: String
    public let format: String
    public let precision: String
    /// Relative to the manifest's folder.
    public let path: String
    /// "passed", "failed parity", "failed export" or "not verifiable here".
    public let status: String
    public let input: InputContract?
    public let output: OutputContract?
    public let bytes: Int
    public let sha256: String
    public let parity: [String: JSONValue]
    /// Cosine thresholds: "far_1e-2", "far_1e-3", "far_1e-4", "best_accuracy" (numbers by direct counts),
    /// "source" (text) and the "verify" / "identify" decision tables (`decisions`).
    public let thresholds: [String: JSONValue]
    /// The verify / identify policies the Python runtime decides with; nil when the manifest predates them.
    public let decisions: DecisionTables?
    public let quantized: String

    /// Passed verification against the PyTorch reference.
    public var shippable: Bool { status == "passed" }
    public var failed: Bool { status.hasPrefix("failed") }

    public func threshold(_ key: String) -> Double? { thresholds[key]?.doubleValue }

    enum CodingKeys: String, CodingKey {
        case id, format, precision, path, status, input, output, bytes, sha256, parity, thresholds, quantized
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        format = try c.decode(String.self, forKey: .format)
        precision = try c.decode(String.self, forKey: .precision)
        path = try c.decode(String.self, forKey: .path)
        status = try c.decode(String.self, forKey: .status)
        input = try c.decodeIfPresent(InputContract.self, forKey: .input)
        output = try c.decodeIfPresent(OutputContract.self, forKey: .output)
        bytes = try c.decodeIfPresent(Int.self, forKey: .bytes) ?? 0
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256) ?? ""
        parity = try c.decodeIfPresent([String: JSONValue].self, forKey: .parity) ?? [:]
        thresholds = try c.decodeIfPresent([String: JSONValue].self, forKey: .thresholds) ?? [:]
        do {
            decisions = try DecisionTables(thresholds, artifact: id)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .thresholds, in: c, debugDescription: "\(error)")
        }
        quantized = try c.decodeIfPresent(String.self, forKey: .quantized) ?? ""
    }
}

/// Free-form JSON (the manifest's `model`, `parity`, `thresholds`, ... dictionaries).
public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public var doubleValue: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    public var intValue: Int? {
        guard case .number(let n) = self, n.rounded() == n, abs(n) < 1e15 else { return nil }
        return Int(n)
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// One line for a decoding error: what is wrong, at which key path.
private func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
    switch error {
    case .keyNotFound(let key, let ctx):
        return "missing '\(key.stringValue)' at \(path(ctx.codingPath).isEmpty ? "top level" : path(ctx.codingPath))"
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
        return "\(ctx.debugDescription) at \(path(ctx.codingPath))"
    @unknown default:
        return "\(error)"
    }
}
