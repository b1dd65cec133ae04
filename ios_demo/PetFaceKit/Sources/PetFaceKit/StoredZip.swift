import Foundation

/// The subset of ZIP the gallery file uses: members STORED (uncompressed), as Python's
/// `zipfile.ZipFile(..., compression=ZIP_STORED)` writes them, including zip64 size fields.
/// Foundation has no zip API on Linux and none is needed for uncompressed members.
enum StoredZip {
    /// Every member of the archive by name; throws on compressed, encrypted or damaged members.
    static func read(_ data: Data) throws -> [String: Data] {
        let bytes = [UInt8](data)
        let eocd = try findEndRecord(bytes)
        var entries = Int(le16(bytes, eocd + 10))
        var dirOffset = Int(le32(bytes, eocd + 16))
        if entries == 0xFFFF || dirOffset == 0xFFFF_FFFF {
            // zip64: the locator sits right before the classic end record.
            let locator = eocd - 20
            guard locator >= 0, le32(bytes, locator) == 0x0706_4b50 else { throw zipError("zip64 locator missing") }
            let end64 = Int(le64(bytes, locator + 8))
            guard end64 + 56 <= bytes.count, le32(bytes, end64) == 0x0606_4b50 else {
                throw zipError("zip64 end record missing")
            }
            entries = Int(le64(bytes, end64 + 32))
            dirOffset = Int(le64(bytes, end64 + 48))
        }
        var members: [String: Data] = [:]
        var p = dirOffset
        for _ in 0..<entries {
            guard p + 46 <= bytes.count, le32(bytes, p) == 0x0201_4b50 else { throw zipError("central directory damaged") }
            let flags = le16(bytes, p + 8), method = le16(bytes, p + 10), crc = le32(bytes, p + 16)
            var size = UInt64(le32(bytes, p + 20))
            let nameLen = Int(le16(bytes, p + 28)), extraLen = Int(le16(bytes, p + 30)), commentLen = Int(le16(bytes, p + 32))
            var local = UInt64(le32(bytes, p + 42))
            guard p + 46 + nameLen + extraLen <= bytes.count else { throw zipError("central directory damaged") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // zip64 extra field (id 1): 8-byte values for whichever 32-bit fields are saturated, in this order.
            var uncompressed = UInt64(le32(bytes, p + 24))
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = le16(bytes, e), len = Int(le16(bytes, e + 2))
                if id == 1 {
                    var f = e + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = le64(bytes, f); f += 8 }
                    if size == 0xFFFF_FFFF { size = le64(bytes, f); f += 8 }
                    if local == 0xFFFF_FFFF { local = le64(bytes, f) }
                }
                e += 4 + len
            }
            guard flags & 1 == 0 else { throw zipError("member \(name) is encrypted") }
            guard method == 0 else {
                throw zipError("member \(name) is compressed (method \(method)); gallery files store members uncompressed")
            }
            let lh = Int(local)
            guard lh + 30 <= bytes.count, le32(bytes, lh) == 0x0403_4b50 else { throw zipError("member \(name) damaged") }
            let start = lh + 30 + Int(le16(bytes, lh + 26)) + Int(le16(bytes, lh + 28))
            guard size == uncompressed, start + Int(size) <= bytes.count else { throw zipError("member \(name) truncated") }
            let body = Array(bytes[start..<(start + Int(size))])
            guard crc32(body) == crc else { throw zipError("member \(name) fails its CRC check") }
            members[name] = Data(body)
            p += 46 + nameLen + extraLen + commentLen
        }
        return members
    }

    /// An archive holding `members` uncompressed, in order (readable by Python's zipfile and numpy.load).
    static func write(_ members: [(name: String, data: Data)]) -> Data {
        var out = [UInt8]()
        var directory = [UInt8]()
        for (name, data) in members {
            let body = [UInt8](data), nameBytes = Array(name.utf8)
            precondition(body.count < 0xFFFF_FFFF && out.count < 0xFFFF_FFFF, "gallery member over 4 GiB")
            let crc = crc32(body), offset = UInt32(out.count)
            // Local header: version 2.0, UTF-8 names (flag bit 11), stored, DOS time 1980-01-01 00:00.
            out += u32(0x0403_4b50) + u16(20) + u16(0x0800) + u16(0) + u16(0) + u16(0x21)
            out += u32(crc) + u32(UInt32(body.count)) + u32(UInt32(body.count)) + u16(UInt16(nameBytes.count)) + u16(0)
            out += nameBytes + body
            directory += u32(0x0201_4b50) + u16(20) + u16(20) + u16(0x0800) + u16(0) + u16(0) + u16(0x21)
            directory += u32(crc) + u32(UInt32(body.count)) + u32(UInt32(body.count)) + u16(UInt16(nameBytes.count))
            directory += u16(0) + u16(0) + u16(0) + u16(0) + u32(0) + u32(offset) + nameBytes
        }
        let dirOffset = UInt32(out.count)
        out += directory
        out += u32(0x0605_4b50) + u16(0) + u16(0) + u16(UInt16(members.count)) + u16(UInt16(members.count))
        out += u32(UInt32(directory.count)) + u32(dirOffset) + u16(0)
        return Data(out)
    }

    private static func findEndRecord(_ b: [UInt8]) throws -> Int {
        // The end record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
        var p = b.count - 22
        let floor = max(0, b.count - 22 - 0xFFFF)
        while p >= floor {
            if le32(b, p) == 0x0605_4b50 { return p }
            p -= 1
        }
        throw zipError("not a zip archive (no end-of-central-directory record)")
    }

    private static func zipError(_ problem: String) -> GalleryError { GalleryError(problem) }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}

// Little-endian field access; out-of-range reads return 0 so callers' magic-number checks fail cleanly.
func le16(_ b: [UInt8], _ i: Int) -> UInt16 {
    guard i >= 0, i + 2 <= b.count else { return 0 }
    return UInt16(b[i]) | UInt16(b[i + 1]) << 8
}

func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    guard i >= 0, i + 4 <= b.count else { return 0 }
    return UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}

func le64(_ b: [UInt8], _ i: Int) -> UInt64 {
    UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32
}

func u16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }
