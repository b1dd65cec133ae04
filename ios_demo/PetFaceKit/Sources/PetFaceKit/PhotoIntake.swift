import Foundation

/// A photo picked for enrollment, as the app keeps it: a small thumbnail and the embedding,
/// never the photo itself (a 48 MP photo as `RGBImage` is 144 MB).
public struct PickedPhoto: Sendable {
    public let thumbnail: RGBImage
    public let embedding: [Float]
    /// What the photo cost to compute and what the detector said.
    public let millis: Double
    public let detection: CropPolicy.Detection

    /// Bytes kept per photo: the thumbnail's pixels and the embedding's floats.
    public var keptBytes: Int { thumbnail.pixels.count + embedding.count * MemoryLayout<Float>.size }
}

/// How picked photos stay small: decoded at a bounded size, embedded at once, then reduced to a
/// `PickedPhoto`.
public enum PhotoIntake {
    /// Longest side a photo is decoded at (ImageIO's thumbnail decode, `RGBImage(encoded:maxPixelSize:)`):
    /// a face filling a quarter of the frame still gets 400 px, several times the model's 112.
    public static let maxDecodeSide = 1600
    public static let thumbnailSide = 96

    /// The size a `width` x `height` photo is decoded at: scaled down, aspect kept, to at most `maxSide`
    /// on its longer side; smaller photos are decoded as they are.
    public static func decodeSize(width: Int, height: Int, maxSide: Int = maxDecodeSide) -> (width: Int, height: Int) {
        let long = max(width, height)
        guard long > maxSide else { return (width, height) }
        let scale = Double(maxSide) / Double(long)
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }

    /// The most memory one decode may take: the RGBA bitmap, the RGB copy and the decoder's own image
    /// (`RGBImage(cgImage:)` draws into RGBA, then copies out RGB), for a photo decoded at `decodeSize`.
    public static func peakDecodeBytes(width: Int, height: Int) -> Int {
        let (w, h) = decodeSize(width: width, height: height)
        return w * h * (4 + 4 + 3)
    }

    /// Embeds `photo` (an upright decoded photo) with `analyze` and keeps only a thumbnail of the square the
    /// model saw and the embedding.
    public static func pick(_ photo: RGBImage,
                            analyze: (RGBImage) throws -> (crop: CropPolicy.Crop, embedding: [Float])) throws -> PickedPhoto {
        let start = DispatchTime.now().uptimeNanoseconds
        let (crop, embedding) = try analyze(photo)
        let millis = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return PickedPhoto(thumbnail: thumbnail(of: crop.image), embedding: embedding, millis: millis,
                           detection: crop.detection)
    }

    /// A `side` x `side` thumbnail: the centred square, resized like the model's input.
    public static func thumbnail(of image: RGBImage, side: Int = thumbnailSide) -> RGBImage {
        let square = (try? CropPolicy.crop(image)) ?? image
        return PILResize.bilinear(square, width: min(side, square.width), height: min(side, square.height))
    }
}
