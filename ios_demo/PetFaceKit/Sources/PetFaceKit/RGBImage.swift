import Foundation

/// An upright 8-bit RGB image, row-major, `width * height * 3` bytes, no padding:
/// the same memory layout as the numpy array `petface_edge.imaging.load_image` yields.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else {
            throw ImageError("image must be at least 1x1, got \(width)x\(height)")
        }
        guard pixels.count == width * height * 3 else {
            throw ImageError("a \(width)x\(height) RGB image needs \(width * height * 3) bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Reads raw RGB bytes (the golden files' `.rgb` format).
    public init(contentsOf url: URL, width: Int, height: Int) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ImageError("\(url.path): no such file")
        }
        do {
            try self.init(width: width, height: height, pixels: [UInt8](data))
        } catch let error as ImageError {
            throw ImageError("\(url.path): \(error.message)")
        }
    }

    /// The pixels inside `rect` (clamped to the image); used to cut out a detected animal.
    public func cropped(to rect: PixelRect) throws -> RGBImage {
        let x0 = max(0, rect.x), y0 = max(0, rect.y)
        let x1 = min(width, rect.x + rect.width), y1 = min(height, rect.y + rect.height)
        guard x1 > x0, y1 > y0 else {
            throw ImageError("crop \(rect) lies outside the \(width)x\(height) image")
        }
        var out = [UInt8]()
        out.reserveCapacity((x1 - x0) * (y1 - y0) * 3)
        for y in y0..<y1 {
            let row = (y * width + x0) * 3
            out.append(contentsOf: pixels[row..<(row + (x1 - x0) * 3)])
        }
        return try RGBImage(width: x1 - x0, height: y1 - y0, pixels: out)
    }

    /// Turns a photo stored with EXIF orientation `tag` (1...8) upright, pixel for pixel as
    /// PIL's `ImageOps.exif_transpose` does (a lossless flip/rotation, no resampling).
    public func applyingEXIFOrientation(_ tag: Int) throws -> RGBImage {
        guard (1...8).contains(tag) else { throw ImageError("EXIF orientation must be 1...8, got \(tag)") }
        if tag == 1 { return self }
        // Tags 5...8 swap the axes. For each output pixel (u, v), the source pixel it comes from:
        let swaps = tag >= 5
        let outW = swaps ? height : width, outH = swaps ? width : height
        var out = [UInt8](repeating: 0, count: pixels.count)
        for v in 0..<outH {
            for u in 0..<outW {
                let (x, y): (Int, Int)
                switch tag {
                case 2: (x, y) = (width - 1 - u, v)  // mirrored horizontally
                case 3: (x, y) = (width - 1 - u, height - 1 - v)  // rotated 180
                case 4: (x, y) = (u, height - 1 - v)  // mirrored vertically
                case 5: (x, y) = (v, u)  // transpose
                case 6: (x, y) = (v, height - 1 - u)  // stored rotated 90 counter-clockwise: turn clockwise
                case 7: (x, y) = (width - 1 - v, height - 1 - u)  // transverse
                default: (x, y) = (width - 1 - v, u)  // 8: stored rotated 90 clockwise: turn counter-clockwise
                }
                let src = (y * width + x) * 3, dst = (v * outW + u) * 3
                out[dst] = pixels[src]
                out[dst + 1] = pixels[src + 1]
                out[dst + 2] = pixels[src + 2]
            }
        }
        return try RGBImage(width: outW, height: outH, pixels: out)
    }
}

/// An integer pixel rectangle, origin top-left.
public struct PixelRect: Equatable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var description: String { "(\(x), \(y), \(width)x\(height))" }
}

/// An image that cannot be used; the message says what was expected.
public struct ImageError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
