#if canImport(UIKit) && canImport(CoreGraphics) && canImport(ImageIO)
import UIKit

extension RGBImage {
    /// An upright RGB image from a `UIImage` (e.g. the camera's): its bitmap as stored, then its
    /// orientation applied as the equivalent EXIF transpose, like `load_image` does for files.
    public init(uiImage: UIImage) throws {
        guard let cgImage = uiImage.cgImage else { throw ImageError("the photo has no bitmap (CIImage-backed UIImage)") }
        self = try RGBImage(cgImage: cgImage).applyingEXIFOrientation(uiImage.imageOrientation.exifOrientation)
    }

    /// An upright RGB image from a `UIImage` scaled down to at most `maxPixelSize` on its longer side
    /// (a camera still is 12 to 48 MP): drawn once at the bounded size, orientation applied by the drawing.
    public init(uiImage: UIImage, maxPixelSize: Int) throws {
        let pixelWidth = uiImage.size.width * uiImage.scale, pixelHeight = uiImage.size.height * uiImage.scale
        let long = max(pixelWidth, pixelHeight)
        guard long > CGFloat(maxPixelSize) else {
            self = try RGBImage(uiImage: uiImage)
            return
        }
        let factor = CGFloat(maxPixelSize) / long
        let size = CGSize(width: max(1, (pixelWidth * factor).rounded()), height: max(1, (pixelHeight * factor).rounded()))
        let format = UIGraphicsImageRendererFormat()
        format.scale = 1
        format.opaque = true
        format.preferredRange = .standard
        let drawn = UIGraphicsImageRenderer(size: size, format: format).image { _ in
            uiImage.draw(in: CGRect(origin: .zero, size: size))
        }
        self = try RGBImage(uiImage: drawn)
    }

    /// These pixels as a `UIImage`, for display.
    public func makeUIImage() -> UIImage? {
        makeCGImage().map { UIImage(cgImage: $0) }
    }
}

extension UIImage.Orientation {
    /// The EXIF orientation tag (1...8) that describes the same stored-to-upright transform.
    public var exifOrientation: Int {
        switch self {
        case .up: return 1
        case .upMirrored: return 2
        case .down: return 3
        case .downMirrored: return 4
        case .leftMirrored: return 5
        case .right: return 6
        case .rightMirrored: return 7
        case .left: return 8
        @unknown default: return 1
        }
    }
}
#endif
