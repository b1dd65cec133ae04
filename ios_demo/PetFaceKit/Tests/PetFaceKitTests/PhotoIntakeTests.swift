import XCTest
@testable import PetFaceKit

/// Picked photos cost a bounded amount of memory: decoded at a bounded size, and kept only as a
/// thumbnail and an embedding.
final class PhotoIntakeTests: XCTestCase {
    func testDecodeSizeIsBoundedAndKeepsTheAspect() {
        XCTAssertEqual(PhotoIntake.decodeSize(width: 8064, height: 6048).width, 1600) // 48 MP
        XCTAssertEqual(PhotoIntake.decodeSize(width: 8064, height: 6048).height, 1200)
        XCTAssertEqual(PhotoIntake.decodeSize(width: 3024, height: 4032).height, 1600)
        XCTAssertEqual(PhotoIntake.decodeSize(width: 3024, height: 4032).width, 1200)
        XCTAssertTrue(PhotoIntake.decodeSize(width: 640, height: 480) == (640, 480)) // small photos: as they are
        // A 48 MP photo decoded whole through RGBImage(cgImage:) peaks near 11 bytes a pixel: 536 MB.
        XCTAssertEqual(8064 * 6048 * 11, 536_481_792)
        XCTAssertLessThanOrEqual(PhotoIntake.peakDecodeBytes(width: 8064, height: 6048), 22_000_000)
    }

    func testWhatIsKeptPerPhotoIsAThumbnailAndAnEmbedding() throws {
        // A 12 MP photo as decoded (36 MB of RGB): after picking, only ~28 KB of it stays.
        let width = 4032, height = 3024
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 7) { pixels[i] = UInt8(i % 251) }
        let photo = try RGBImage(width: width, height: height, pixels: pixels)
        var seen: RGBImage?
        let picked = try PhotoIntake.pick(photo) { image in
            let crop = try CropPolicy.crop(image, margin: CropPolicy.animalMargin) { nil }
            seen = crop.image
            return (crop, [Float](repeating: 0.088, count: 128))
        }
        XCTAssertEqual(seen.map { [$0.width, $0.height] }, [3024, 3024]) // the model saw the centred square
        XCTAssertEqual([picked.thumbnail.width, picked.thumbnail.height], [PhotoIntake.thumbnailSide, PhotoIntake.thumbnailSide])
        XCTAssertEqual(picked.keptBytes, 96 * 96 * 3 + 128 * 4)
        XCTAssertLessThan(picked.keptBytes, 30_000)
        XCTAssertLessThan(picked.keptBytes * 1000, photo.pixels.count) // under 0.1% of the photo
        XCTAssertEqual(picked.detection, .notFound)
    }
}
