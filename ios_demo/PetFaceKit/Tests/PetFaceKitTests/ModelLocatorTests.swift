import XCTest
@testable import PetFaceKit

/// The model folder is found where Xcode or Swift Playgrounds put an app package's resources.
final class ModelLocatorTests: XCTestCase {
    func testFindsTheFolderFlatInABundleOrInsideAResourceBundle() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("petface-locator-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func app(_ layout: String) throws -> URL {
            let app = root.appendingPathComponent(UUID().uuidString)
            let model = app.appendingPathComponent(layout)
            try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: model.appendingPathComponent("manifest.json"))
            return app
        }
        let playgrounds = try app("Model")  // resources copied into the app bundle itself
        let xcode = try app("PetFaceDemo_AppModule.bundle/Model")  // SwiftPM's resource bundle in the app
        let mac = try app("PetFaceDemo_AppModule.bundle/Contents/Resources/Model")
        for found in [playgrounds, xcode, mac] {
            let folder = try XCTUnwrap(ModelLocator.folder(in: [found]))
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path))
        }
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("Model"), withIntermediateDirectories: true)
        XCTAssertNil(ModelLocator.folder(in: [empty]), "a Model folder without manifest.json is not a model")
        XCTAssertEqual(ModelLocator.folder(in: [empty, playgrounds])?.deletingLastPathComponent().lastPathComponent,
                       playgrounds.lastPathComponent)
    }
}
