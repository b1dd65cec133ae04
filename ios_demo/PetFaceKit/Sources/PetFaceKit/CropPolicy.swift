import Foundation

/// What part of a photo the model sees: the crop policy of `petface_edge/imaging.py`, ported
/// operation by operation and tested against its golden crops, so a gallery enrolled on the phone
/// answers like one enrolled in Python (or on Android).
///
/// 1. No face box: the largest centred square (a non-square photo is cut, never squashed).
/// 2. A box: the square around it grown by `margin` of its longer side on every side, shifted to stay
///    inside the photo, shrunk only to its shorter side (`CropGeometry.squareCrop`, Python's
///    `square_crop_box`).
/// 3. The square is resized with `PILResize` (`Contract.pixels`).
///
/// A detector that finds nothing or fails gives rule 1, and the caller is told which (`Detection`).
public enum CropPolicy {
    /// Margin for a tight face box (Python's `DEFAULT_MARGIN`).
    public static let faceMargin = CropGeometry.defaultMargin
    /// Margin for a box around the whole visible animal (Vision's `VNRecognizeAnimalsRequest`): already
    /// loose, so grown little (the golden crops test this margin too, `ANIMAL_MARGIN` in tests/golden.py).
    public static let animalMargin = 0.05

    /// What the detector said about a photo.
    public enum Detection: Equatable, Sendable {
        case found(PixelRect)
        case notFound
        /// The detector threw; the photo was used by rule 1.
        case failed(String)
    }

    /// A photo cut by the policy: the square (`rect`, in the photo's pixels) and why it is this one.
    public struct Crop: Sendable {
        public let image: RGBImage
        public let rect: PixelRect
        public let detection: Detection
    }

    /// The square the model sees in a `width` x `height` photo: around `face` (rule 2), else centred (rule 1).
    public static func cropRect(width: Int, height: Int, face: PixelRect? = nil, margin: Double = faceMargin) -> PixelRect {
        if let face {
            return CropGeometry.squareCrop(around: face, imageWidth: width, imageHeight: height, margin: margin)
        }
        let side = min(width, height)
        return PixelRect(x: (width - side) / 2, y: (height - side) / 2, width: side, height: side)
    }

    /// `image` cut to `cropRect`; a square image without a face box is returned as is.
    public static func crop(_ image: RGBImage, face: PixelRect? = nil, margin: Double = faceMargin) throws -> RGBImage {
        let rect = cropRect(width: image.width, height: image.height, face: face, margin: margin)
        if rect == PixelRect(x: 0, y: 0, width: image.width, height: image.height) { return image }
        return try image.cropped(to: rect)
    }

    /// Runs `detect` (a box in `image`'s pixels, or nil for none) and cuts `image` by the policy; a
    /// detector error falls back to the centred square instead of failing the photo.
    public static func crop(_ image: RGBImage, margin: Double, detect: () throws -> PixelRect?) throws -> Crop {
        let detection: Detection
        do {
            detection = try detect().map(Detection.found) ?? .notFound
        } catch {
            detection = .failed(error.localizedDescription)
        }
        var face: PixelRect?
        if case .found(let box) = detection { face = box }
        let rect = cropRect(width: image.width, height: image.height, face: face, margin: margin)
        return Crop(image: try crop(image, face: face, margin: margin), rect: rect, detection: detection)
    }
}
