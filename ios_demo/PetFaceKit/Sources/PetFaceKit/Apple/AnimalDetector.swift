#if canImport(Vision) && canImport(CoreGraphics)
import CoreGraphics
import Foundation
import Vision

/// A cat or dog that Vision found in an upright image.
public struct DetectedAnimal: Equatable, Sendable {
    public enum Species: String, Sendable { case cat, dog }
    public let species: Species
    public let confidence: Float
    /// The animal's box in image pixels, origin top-left.
    public let box: PixelRect
}

/// Finds cats and dogs with `VNRecognizeAnimalsRequest` and cuts out the square the embedder sees.
///
/// Vision boxes the whole animal, not its face (the Python runtime's OpenCV cascade boxes cat faces),
/// so the crop uses a smaller margin; the embedder was trained on face crops, so photos framed on
/// the face work best. A photo without a detection is embedded whole.
public struct AnimalDetector: Sendable {
    public var minimumConfidence: Float
    /// Margin around the animal box (fraction of its side, each side); see `CropGeometry`.
    public var margin: Double

    public init(minimumConfidence: Float = 0.5, margin: Double = 0.05) {
        self.minimumConfidence = minimumConfidence
        self.margin = margin
    }

    /// Cats and dogs in `image`, most confident first.
    public func animals(in image: RGBImage) throws -> [DetectedAnimal] {
        guard let cgImage = image.makeCGImage() else { throw ImageError("cannot make a CGImage for Vision") }
        let request = VNRecognizeAnimalsRequest()
        try VNImageRequestHandler(cgImage: cgImage, orientation: .up, options: [:]).perform([request])
        let found: [DetectedAnimal] = (request.results ?? []).compactMap { observation in
            guard let label = observation.labels.first, label.confidence >= minimumConfidence else { return nil }
            let species: DetectedAnimal.Species = label.identifier == VNAnimalIdentifier.cat.rawValue ? .cat : .dog
            // Vision's normalized boxes have their origin bottom-left.
            let r = VNImageRectForNormalizedRect(observation.boundingBox, image.width, image.height)
            let box = PixelRect(x: Int(r.minX.rounded()), y: Int((CGFloat(image.height) - r.maxY).rounded()),
                                width: max(1, Int(r.width.rounded())), height: max(1, Int(r.height.rounded())))
            return DetectedAnimal(species: species, confidence: label.confidence, box: box)
        }
        return found.sorted { $0.confidence > $1.confidence }
    }

    /// The square crop around the most confident animal, or the whole image when none is found.
    public func crop(_ image: RGBImage) throws -> (image: RGBImage, animal: DetectedAnimal?) {
        guard let animal = try animals(in: image).first else { return (image, nil) }
        let square = CropGeometry.squareCrop(around: animal.box, imageWidth: image.width, imageHeight: image.height,
                                             margin: margin)
        return (try image.cropped(to: square), animal)
    }
}
#endif
