import Foundation

/// Applying an artifact's input/output contract, as `petface_edge/runtime/contract.py` does:
/// pixels to the input tensor (layout, dtype, int8 quantization), raw output to a unit vector.
public enum Contract {
    /// The model input pixels for an upright photo or crop: its centred square (`CropPolicy`, rule 1:
    /// never squashed; a square crop is kept whole), resized to the contract's size with PIL's bilinear filter.
    public static func pixels(for image: RGBImage, contract: InputContract) throws -> RGBImage {
        try check(contract)
        return PILResize.bilinear(try CropPolicy.crop(image), width: contract.size, height: contract.size)
    }

    /// `size` x `size` RGB pixels to the input tensor of one image (batch 1), in the contract's layout.
    ///
    /// Values stay RGB 0..255: with normalization "in_graph" the model applies mean/std itself.
    /// float16 inputs get the same values as float32 (0..255 integers are exact in float16);
    /// int8/uint8 inputs are quantized like contract.py: `clip(round_half_even(x / scale) + zero_point)`.
    public static func inputTensor(pixels: RGBImage, contract: InputContract) throws -> TensorValues {
        try check(contract)
        let s = contract.size
        guard pixels.width == s, pixels.height == s else {
            throw ContractError("expected \(s)x\(s) pixels for input '\(contract.name)', got \(pixels.width)x\(pixels.height)")
        }
        var values = [Float](repeating: 0, count: s * s * 3)
        switch contract.layout {
        case .nhwc:
            for i in 0..<values.count { values[i] = Float(pixels.pixels[i]) }
        case .nchw:
            let plane = s * s
            for p in 0..<plane {
                values[p] = Float(pixels.pixels[p * 3])
                values[plane + p] = Float(pixels.pixels[p * 3 + 1])
                values[2 * plane + p] = Float(pixels.pixels[p * 3 + 2])
            }
        }
        switch contract.dtype {
        case .float32, .float16:
            return .float(values)
        case .int8:
            return .int8(try quantize(values, contract, lower: -128, upper: 127).map { Int8($0) })
        case .uint8:
            return .uint8(try quantize(values, contract, lower: 0, upper: 255).map { UInt8($0) })
        }
    }

    /// A raw model output (quantized codes as numbers when the output is int8) to a unit vector.
    public static func embedding(from raw: [Float], contract: OutputContract) throws -> [Float] {
        guard raw.count == contract.dim else {
            throw ContractError("output '\(contract.name)' should have \(contract.dim) values, got \(raw.count)")
        }
        var y = raw
        if let q = contract.quantization {
            let scale = Float(q.scale), zero = Float(q.zeroPoint)
            y = y.map { ($0 - zero) * scale }
        }
        // Re-normalize: fp16/int8 outputs are only approximately unit length.
        return Vector.l2Normalized(y)
    }

    private static func quantize(_ x: [Float], _ contract: InputContract, lower: Float, upper: Float) throws -> [Float] {
        guard let q = contract.quantization else {
            throw ContractError("input '\(contract.name)' is \(contract.dtype.rawValue) but has no quantization parameters")
        }
        let scale = Float(q.scale), zero = Float(q.zeroPoint)
        return x.map { min(max(($0 / scale).rounded(.toNearestOrEven) + zero, lower), upper) }
    }

    /// Refuses contracts this code does not implement instead of feeding the model wrong numbers.
    private static func check(_ c: InputContract) throws {
        guard c.color == "RGB", c.resize == "pil_bilinear", c.normalization == "in_graph",
              c.range.count == 2, c.range[0] == 0, c.range[1] == 255 else {
            throw ContractError("unsupported input contract for '\(c.name)': color \(c.color), resize \(c.resize), "
                                + "normalization \(c.normalization), range \(c.range) "
                                + "(PetFaceKit implements RGB, pil_bilinear, in_graph, 0..255)")
        }
    }
}

/// One image's input tensor values, flat, in the contract's layout.
public enum TensorValues: Equatable, Sendable {
    /// float32 or float16 inputs.
    case float([Float])
    case int8([Int8])
    case uint8([UInt8])

    public var count: Int {
        switch self {
        case .float(let v): return v.count
        case .int8(let v): return v.count
        case .uint8(let v): return v.count
        }
    }
}

public struct ContractError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
