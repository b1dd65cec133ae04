import CoreML
import Foundation
import Observation
import PetFaceKit
import UIKit

/// One photo after detection and embedding.
struct Analysis: Sendable {
    /// What the embedder saw: the crop policy's square (around the animal, or centred) and why.
    let crop: CropPolicy.Crop
    let animal: DetectedAnimal?
    let embedding: [Float]
    /// Detection, crop, resize and CoreML prediction, in ms.
    let millis: Double
}

/// The model and the detector, used off the main thread.
struct Engine: Sendable {
    let embedder: CoreMLEmbedder
    let detector: AnimalDetector

    func analyze(_ photo: RGBImage) throws -> Analysis {
        let start = DispatchTime.now().uptimeNanoseconds
        let found = try detector.crop(photo)
        let embedding = try embedder.embed(found.crop.image)
        return Analysis(crop: found.crop, animal: found.animal, embedding: embedding,
                        millis: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
}

/// A photo picked for enrollment, as the enroll screen keeps it: a thumbnail made once, and the embedding.
struct EnrollItem: Identifiable {
    let id = UUID()
    let thumbnail: UIImage?
    let picked: PickedPhoto
}

/// An identification, as the identify screen keeps it: no full-size pixels.
struct Identification {
    let thumbnail: UIImage?
    let animal: DetectedAnimal?
    let detection: CropPolicy.Detection
    let matches: [Match]
    /// The identify policy's threshold for this gallery's size (FPIR 1e-2 by default).
    let operatingPoint: OperatingPoint
    let millis: Double
}

/// Where CoreML may run the model (the settings in the Gallery tab).
enum ComputeUnitsChoice: String, CaseIterable, Identifiable {
    case all, cpuAndNeuralEngine, cpuAndGPU, cpuOnly

    var id: String { rawValue }
    var units: MLComputeUnits {
        switch self {
        case .all: return .all
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuOnly: return .cpuOnly
        }
    }
    var label: String {
        switch self {
        case .all: return "All (CoreML decides)"
        case .cpuAndNeuralEngine: return "CPU and Neural Engine"
        case .cpuAndGPU: return "CPU and GPU"
        case .cpuOnly: return "CPU only"
        }
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
    /// The manifest's verdict on the running artifact: CoreML exported on Linux is not verified.
    private(set) var verification: Verification?
    /// The last photo's detection, crop, resize and prediction time.
    private(set) var latencyMillis: Double?
    private(set) var computeUnits: ComputeUnitsChoice
    private var engine: Engine?
    private var manifest: Manifest?

    let galleryURL = URL.applicationSupportDirectory.appending(path: "pets.gallery")
    private let thumbnailFolder = URL.applicationSupportDirectory.appending(path: "thumbnails", directoryHint: .isDirectory)
    private static let computeUnitsKey = "computeUnits"

    init() {
        computeUnits = UserDefaults.standard.string(forKey: Self.computeUnitsKey).flatMap(ComputeUnitsChoice.init(rawValue:)) ?? .all
    }

    func load() async {
        guard engine == nil else { return }
        do {
            // Not Bundle.module: it stops the app when Xcode and Playgrounds put the resources elsewhere.
            guard let folder = ModelLocator.folder(in: ModelLocator.bundleRoots()) else {
                throw AppError("the app has no Model folder with a manifest.json")
            }
            let manifest = try Manifest.load(from: folder)
            // Checks the package's sha256 against the manifest (off the main actor: a nonisolated async init).
            let embedder = try await CoreMLEmbedder(manifest: manifest, computeUnits: computeUnits.units)
            self.manifest = manifest
            engine = Engine(embedder: embedder, detector: AnimalDetector())
            verification = embedder.artifact.verification
            let policy = embedder.artifact.decisions.map { "identify at FPIR \(DecisionTables.rateKey($0.defaultFPIR))" }
                ?? "no decision tables"
            modelSummary = "\(embedder.artifact.id), \(embedder.input.size) px, \(embedder.output.dim)-d, "
                + "\(policy), model \(manifest.fingerprint.prefix(12)), \(computeUnits.label)"
        } catch let error as IntegrityError {
            status = .failed("The model was refused: \(error.message)", galleryProblem: false)
            return
        } catch {
            status = .failed("\(error.localizedDescription)\n\nAdd a model on your Mac with "
                             + "ios_demo/add_model.sh EXPORT_DIR, then build and run again.", galleryProblem: false)
            return
        }
        openGallery()
    }

    /// Reloads the model to run on `choice` (kept for the next launches); the gallery is unchanged.
    func setComputeUnits(_ choice: ComputeUnitsChoice) async {
        guard choice != computeUnits else { return }
        computeUnits = choice
        UserDefaults.standard.set(choice.rawValue, forKey: Self.computeUnitsKey)
        engine = nil
        status = .loading
        await load()
    }

    /// Moves an unusable gallery file aside (never deletes it) and starts an empty one.
    func startNewGallery() {
        let aside = galleryURL.deletingPathExtension()
            .appendingPathExtension("unusable-\(Int(Date().timeIntervalSince1970)).gallery")
        try? FileManager.default.moveItem(at: galleryURL, to: aside)
        try? FileManager.default.removeItem(at: thumbnailFolder)
        openGallery()
    }

    /// Embeds a picked photo at once, off the main thread; only its thumbnail and embedding are kept.
    func pick(_ photo: RGBImage) async throws -> EnrollItem {
        guard let engine else { throw AppError("the model is not loaded") }
        let picked = try await Task.detached(priority: .userInitiated) {
            try PhotoIntake.pick(photo) { image in
                let analysis = try engine.analyze(image)
                return (analysis.crop, analysis.embedding)
            }
        }.value
        latencyMillis = picked.millis
        return EnrollItem(thumbnail: picked.thumbnail.makeUIImage(), picked: picked)
    }

    /// Enrolls the picked photos of one pet (a known name gets more templates); returns its template count.
    func enroll(name: String, items: [EnrollItem]) throws -> Int {
        var updated = try requireGallery()
        let count = try updated.enroll(name, embeddings: items.map(\.picked.embedding))
        try save(updated)
        let stored = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if let first = items.first, !FileManager.default.fileExists(atPath: thumbnailURL(stored).path) {
            try? FileManager.default.createDirectory(at: thumbnailFolder, withIntermediateDirectories: true)
            try? first.thumbnail?.jpegData(compressionQuality: 0.8)?.write(to: thumbnailURL(stored))
        }
        return count
    }

    func identify(_ photo: RGBImage) async throws -> Identification {
        guard let engine else { throw AppError("the model is not loaded") }
        let analysis = try await Task.detached(priority: .userInitiated) { try engine.analyze(photo) }.value
        latencyMillis = analysis.millis
        guard let decisions = engine.embedder.artifact.decisions else { throw AppError("the model has no decision tables") }
        let result = try requireGallery().identify(analysis.embedding, policy: decisions, topK: 5)
        return Identification(thumbnail: PhotoIntake.thumbnail(of: analysis.crop.image).makeUIImage(), animal: analysis.animal,
                              detection: analysis.crop.detection, matches: result.matches,
                              operatingPoint: result.operatingPoint, millis: analysis.millis)
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
        // The gallery's own threshold serves verify (FAR 1e-3); identify takes the policy's at the gallery's size.
        guard let threshold = try? embedder.artifact.decisions?.verifyPoint().threshold else {
            status = .failed("\(embedder.artifact.id) has no verify/identify calibration in manifest.json; re-export it",
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
