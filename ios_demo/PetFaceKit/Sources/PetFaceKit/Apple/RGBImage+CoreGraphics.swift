#if canImport(CoreGraphics) && canImport(ImageIO)
import CoreGraphics
import Foundation
import ImageIO

extension RGBImage {
    /// Decodes an encoded photo (JPEG, HEIC, PNG, ...) and turns it upright by its EXIF orientation,
    /// as `petface_edge.imaging.load_image` does with PIL. Decoders differ slightly between Apple's
    /// ImageIO and libjpeg, so a JPEG's pixels can differ by a few levels from PIL's; everything
    /// after decoding (orientation, resize, tensor) is exact.
    public init(encoded data: Data) throws {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil),
              let image = CGImageSourceCreateImageAtIndex(source, 0, nil) else {
            throw ImageError("not a readable image (\(data.count) bytes)")
        }
        let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [CFString: Any]
        let orientation = (properties?[kCGImagePropertyOrientation] as? NSNumber)?.intValue ?? 1
        self = try RGBImage(cgImage: image).applyingEXIFOrientation((1...8).contains(orientation) ? orientation : 1)
    }

    /// Decodes an encoded photo upright at most `maxPixelSize` on its longer side, so a 48 MP photo never
    /// exists at full size in memory (`PhotoIntake`). A photo within the bound is decoded exactly as
    /// `init(encoded:)` does; a larger one through ImageIO's thumbnail decoder (which subsamples while
    /// decoding and applies the EXIF orientation), so its pixels are a downscale, not PIL's decode.
    public init(encoded data: Data, maxPixelSize: Int) throws {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil) else {
            throw ImageError("not a readable image (\(data.count) bytes)")
        }
        let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [CFString: Any]
        let width = (properties?[kCGImagePropertyPixelWidth] as? NSNumber)?.intValue ?? 0
        let height = (properties?[kCGImagePropertyPixelHeight] as? NSNumber)?.intValue ?? 0
        if width > 0, height > 0, max(width, height) <= maxPixelSize {
            self = try RGBImage(encoded: data)
            return
        }
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceThumbnailMaxPixelSize: maxPixelSize,
            kCGImageSourceShouldCacheImmediately: true,
        ]
        guard let image = CGImageSourceCreateThumbnailAtIndex(source, 0, options as CFDictionary) else {
            throw ImageError("cannot decode the photo at \(maxPixelSize) px (\(data.count) bytes)")
        }
        self = try RGBImage(cgImage: image)
    }

    /// The pixels of `cgImage` as stored (no orientation applied); transparent areas over white,
    /// like `load_image`. Drawn in the image's own RGB colour space so values are not colour-managed:
    /// PIL ignores ICC profiles, so a Display P3 photo must keep its numbers, not be converted to sRGB.
    public init(cgImage: CGImage) throws {
        let width = cgImage.width, height = cgImage.height
        var spaces: [CGColorSpace] = []
        if let own = cgImage.colorSpace, own.model == .rgb { spaces.append(own) }
        spaces.append(CGColorSpace(name: CGColorSpace.sRGB) ?? CGColorSpaceCreateDeviceRGB())
        // Opaque white, premultiplied: drawing composites the image over it.
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        let drawn = rgba.withUnsafeMutableBytes { buffer -> Bool in
            for space in spaces {
                guard let context = CGContext(data: buffer.baseAddress, width: width, height: height, bitsPerComponent: 8,
                                              bytesPerRow: width * 4, space: space,
                                              bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue) else { continue }
                context.interpolationQuality = .none
                context.draw(cgImage, in: CGRect(x: 0, y: 0, width: width, height: height))
                return true
            }
            return false
        }
        guard drawn else { throw ImageError("cannot draw a \(width)x\(height) image into an 8-bit RGB bitmap") }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = rgba[4 * i]
            rgb[3 * i + 1] = rgba[4 * i + 1]
            rgb[3 * i + 2] = rgba[4 * i + 2]
        }
        try self.init(width: width, height: height, pixels: rgb)
    }

    /// These pixels as a `CGImage` (sRGB), for display and for Vision.
    public func makeCGImage() -> CGImage? {
        guard let provider = CGDataProvider(data: Data(pixels) as CFData),
              let space = CGColorSpace(name: CGColorSpace.sRGB) else { return nil }
        return CGImage(width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 24, bytesPerRow: width * 3,
                       space: space, bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.none.rawValue),
                       provider: provider, decode: nil, shouldInterpolate: true, intent: .defaultIntent)
    }
}
#endif
