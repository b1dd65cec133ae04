#if canImport(UIKit) && canImport(CoreGraphics) && canImport(ImageIO)
import UIKit

extension RGBImage {
    /// An upright RGB image from a `UIImage` (e.g. the camera's): its bitmap as stored, then its
    /// orientation applied as the equivalent EXIF transpose, like `load_image` does for files.
    public init(uiImage: UIImage) throws {
        guard let cgImage = uiImage.cgImage else { throw ImageError("the photo has no bitmap (CIImage-backed UIImage)") }
        self = try RGBImage(cgImage: cgImage).applyingEXIFOrientation(uiImage.imageOrientation.exifOrientation)
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
