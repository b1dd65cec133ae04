import Foundation
import Observation
import PetFaceKit
import UIKit

/// One photo after detection and embedding.
struct Analysis: Sendable {
    /// What the embedder saw: the square around the detected animal, or the whole photo.
    let crop: RGBImage
    let animal: DetectedAnimal?
    let embedding: [Float]
}

/// The model and the detector, used off the main thread.
struct Engine: Sendable {
    let embedder: CoreMLEmbedder
    let detector: AnimalDetector

    func analyze(_ photo: RGBImage) throws -> Analysis {
        let (crop, animal) = try detector.crop(photo)
        return Analysis(crop: crop, animal: animal, embedding: try embedder.embed(crop))
    }
}

struct AppError: LocalizedError {
    let errorDescription: String?
    init(_ message: String) { errorDescription = message }
}

/// The app's state: the bundled model, and the gallery saved in Application Support in the same
/// file format as the Python runtime (`petface gallery list pets.gallery` reads a copy of it).
@MainActor
@Observable
final class PetStore {
    enum Status: Equatable {
        case loading
        case ready
        /// `galleryProblem`: the model loaded but the saved gallery could not be used.
        case failed(String, galleryProblem: Bool)
    }

    private(set) var status: Status = .loading
    private(set) var gallery: Gallery?
    private(set) var modelSummary = ""
    private var engine: Engine?
    private var manifest: Manifest?

    let galleryURL = URL.applicationSupportDirectory.appending(path: "pets.gallery")
    private let thumbnailFolder = URL.applicationSupportDirectory.appending(path: "thumbnails", directoryHint: .isDirectory)

    func load() async {
        guard engine == nil else { return }
        do {
            guard let folder = Bundle.module.url(forResource: "Model", withExtension: nil) else {
                throw AppError("the app has no Model folder")
            }
            let manifest = try Manifest.load(from: folder)
            let embedder = try await CoreMLEmbedder(manifest: manifest)
            self.manifest = manifest
            engine = Engine(embedder: embedder, detector: AnimalDetector())
            let threshold = embedder.artifact.defaultThreshold.map { String(format: "%.3f", $0) } ?? "none"
            modelSummary = "\(embedder.artifact.id), \(embedder.input.size) px, \(embedder.output.dim)-d, "
                + "threshold \(threshold), model \(manifest.fingerprint.prefix(12))"
        } catch {
            status = .failed("\(error.localizedDescription)\n\nAdd a model on your Mac with "
                             + "ios_demo/add_model.sh EXPORT_DIR, then build and run again.", galleryProblem: false)
            return
        }
        openGallery()
    }

    /// Moves an unusable gallery file aside (never deletes it) and starts an empty one.
    func startNewGallery() {
        let aside = galleryURL.deletingPathExtension()
            .appendingPathExtension("unusable-\(Int(Date().timeIntervalSince1970)).gallery")
        try? FileManager.default.moveItem(at: galleryURL, to: aside)
        try? FileManager.default.removeItem(at: thumbnailFolder)
        openGallery()
    }

    func analyze(_ photo: RGBImage) async throws -> Analysis {
        guard let engine else { throw AppError("the model is not loaded") }
        return try await Task.detached(priority: .userInitiated) { try engine.analyze(photo) }.value
    }

    /// Enrolls `photos` of one pet (a known name gets more templates); returns its template count.
    func enroll(name: String, photos: [RGBImage]) async throws -> Int {
        var analyses: [Analysis] = []
        for photo in photos { analyses.append(try await analyze(photo)) }
        var updated = try requireGallery()
        let count = try updated.enroll(name, embeddings: analyses.map(\.embedding))
        try save(updated)
        let stored = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if let first = analyses.first, !FileManager.default.fileExists(atPath: thumbnailURL(stored).path) {
            try? FileManager.default.createDirectory(at: thumbnailFolder, withIntermediateDirectories: true)
            try? first.crop.makeUIImage()?.jpegData(compressionQuality: 0.8)?.write(to: thumbnailURL(stored))
        }
        return count
    }

    func identify(_ photo: RGBImage) async throws -> (Analysis, [Match]) {
        let analysis = try await analyze(photo)
        return (analysis, try requireGallery().identify(analysis.embedding, topK: 5))
    }

    func remove(_ name: String) throws {
        var updated = try requireGallery()
        try updated.remove(name)
        try save(updated)
        try? FileManager.default.removeItem(at: thumbnailURL(name))
    }

    func rename(_ old: String, to new: String) throws {
        var updated = try requireGallery()
        try updated.rename(old, to: new)
        try save(updated)
        try? FileManager.default.moveItem(at: thumbnailURL(old),
                                          to: thumbnailURL(new.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    func thumbnail(_ name: String) -> UIImage? {
        UIImage(contentsOfFile: thumbnailURL(name).path)
    }

    private func openGallery() {
        guard let engine, let manifest else { return }
        let embedder = engine.embedder
        guard let threshold = embedder.artifact.defaultThreshold else {
            status = .failed("\(embedder.artifact.id) has no best_accuracy threshold in manifest.json; re-export it",
                             galleryProblem: false)
            return
        }
        do {
            if FileManager.default.fileExists(atPath: galleryURL.path) {
                gallery = try Gallery.load(from: galleryURL, threshold: threshold, fingerprint: manifest.fingerprint,
                                           dimension: embedder.output.dim)
            } else {
                gallery = Gallery(fingerprint: manifest.fingerprint, dimension: embedder.output.dim,
                                  threshold: threshold, artifact: embedder.artifact.id)
            }
            status = .ready
        } catch {
            status = .failed(error.localizedDescription, galleryProblem: true)
        }
    }

    private func requireGallery() throws -> Gallery {
        guard let gallery else { throw AppError("the gallery is not open") }
        return gallery
    }

    private func save(_ updated: Gallery) throws {
        try FileManager.default.createDirectory(at: galleryURL.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try updated.save(to: galleryURL)
        gallery = updated
    }

    /// Pet names can hold any character; file names use their UTF-8 bytes in hex.
    private func thumbnailURL(_ name: String) -> URL {
        thumbnailFolder.appending(path: name.utf8.map { String(format: "%02x", $0) }.joined() + ".jpg")
    }
}
