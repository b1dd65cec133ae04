import Foundation

/// numpy's `.npy` format for the one array the gallery file holds: a C-order float32
/// little-endian matrix (`numpy.lib.format.write_array` of a `(M, dim)` `<f4` array).
enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    static func readFloat32Matrix(_ data: Data) throws -> (rows: Int, cols: Int, values: [Float]) {
        let b = [UInt8](data)
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw GalleryError("templates.npy is not a .npy array") }
        let (headerStart, headerLen): (Int, Int) = b[6] == 1
            ? (10, Int(le16(b, 8))) : (12, Int(le32(b, 8)))  // versions 2.0 and 3.0 use a 4-byte length
        guard headerStart + headerLen <= b.count else { throw GalleryError("templates.npy header is truncated") }
        let header = String(decoding: b[headerStart..<(headerStart + headerLen)], as: UTF8.self)
        guard capture(#"'descr':\s*'([^']*)'"#, header) == "<f4" else {
            throw GalleryError("templates.npy must be little-endian float32 ('<f4'), header: \(header.trimmed)")
        }
        guard capture(#"'fortran_order':\s*(True|False)"#, header) == "False" else {
            throw GalleryError("templates.npy must be C-ordered, header: \(header.trimmed)")
        }
        let dims = (capture(#"'shape':\s*\(([^)]*)\)"#, header) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        guard dims.count == 2 else { throw GalleryError("templates.npy must be a 2-D matrix, header: \(header.trimmed)") }
        let count = dims[0] * dims[1], start = headerStart + headerLen
        guard b.count - start == count * 4 else {
            throw GalleryError("templates.npy holds \(b.count - start) data bytes, shape (\(dims[0]), \(dims[1])) needs \(count * 4)")
        }
        let values = (0..<count).map { Float(bitPattern: le32(b, start + 4 * $0)) }
        return (dims[0], dims[1], values)
    }

    static func writeFloat32Matrix(rows: Int, cols: Int, values: [Float]) -> Data {
        precondition(values.count == rows * cols, "matrix values do not match its shape")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(cols)), }"
        // Version 1.0: 10 bytes of preamble; the header is space-padded so data starts 64-byte aligned.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0] + u16(UInt16(header.utf8.count)) + Array(header.utf8)
        out.reserveCapacity(out.count + values.count * 4)
        for v in values { out += u32(v.bitPattern) }
        return Data(out)
    }

    private static func capture(_ pattern: String, _ text: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
              let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let r = Range(m.range(at: 1), in: text) else { return nil }
        return String(text[r])
    }
}

private extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
