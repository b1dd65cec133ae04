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

/// Finds cats and dogs with `VNRecognizeAnimalsRequest` and cuts out the square the embedder sees,
/// by the crop policy (`CropPolicy`).
///
/// Vision boxes the whole animal, not its face (the Python runtime's OpenCV cascade boxes cat faces),
/// so the box is grown by `CropPolicy.animalMargin` rather than the face margin; the embedder was
/// trained on face crops, so photos framed on the face work best. A photo where Vision finds nothing,
/// or where Vision fails, is embedded by its centred square, and the crop says which happened.
public struct AnimalDetector: Sendable {
    public var minimumConfidence: Float
    /// Margin around the animal box (fraction of its longer side, each side); see `CropPolicy`.
    public var margin: Double

    /// The square the embedder sees, the animal Vision found (nil if none), and the detection outcome.
    public struct Result: Sendable {
        public let crop: CropPolicy.Crop
        public let animal: DetectedAnimal?
    }

    public init(minimumConfidence: Float = 0.5, margin: Double = CropPolicy.animalMargin) {
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

    /// The policy's square around the most confident animal; the centred square when Vision finds none or fails.
    public func crop(_ image: RGBImage) throws -> Result {
        var animal: DetectedAnimal?
        let crop = try CropPolicy.crop(image, margin: margin) {
            animal = try animals(in: image).first
            return animal?.box
        }
        return Result(crop: crop, animal: animal)
    }
}
#endif
