import Foundation

/// The gallery file, the same format as the Python runtime's (`petface_edge/runtime/gallery_file.py`,
/// schema `petface-gallery` version 1), so a gallery moves between the phone and `petface` unchanged:
///
/// an uncompressed ZIP laid out like numpy's `.npz` with two members,
/// - `gallery.json`: `{"schema": "petface-gallery", "schema_version": 1, "fingerprint": "<sha256>",
///   "dim": 128, "artifact": "coreml-fp16", "created": "...", "updated": "...",
///   "pets": [{"name": "Luna", "templates": 3}, ...]}`
/// - `templates.npy`: float32 little-endian `(M, dim)`, one unit-length row per enrolled image,
///   rows of one pet consecutive, pets in the order of `pets`.
///
/// The threshold is not stored: it belongs to the model artifact (manifest `thresholds`).
extension Gallery {
    public static let fileSchema = "petface-gallery"
    public static let fileSchemaVersion = 1
    static let metaMember = "gallery.json"
    static let templatesMember = "templates.npy"

    /// Reads a gallery file. With `fingerprint`, refuses a gallery enrolled with another model
    /// (embeddings of different models are not comparable); every failure names the file.
    public static func load(from url: URL, threshold: Double, fingerprint: String? = nil,
                            dimension: Int? = nil) throws -> Gallery {
        do {
            let gallery = try decode(url, threshold: threshold)
            if let expected = fingerprint, expected != gallery.fingerprint {
                throw GalleryError("enrolled with model \(gallery.fingerprint.prefix(12)), but the app's model is "
                                   + "\(expected.prefix(12)); embeddings of different models are not comparable: "
                                   + "re-enroll the pets with this model")
            }
            if let dim = dimension, dim != gallery.dimension {
                throw GalleryError("holds \(gallery.dimension)-d templates, the model gives \(dim)-d")
            }
            return gallery
        } catch let error as GalleryError {
            throw GalleryError("\(url.path): \(error.message)")
        }
    }

    /// Writes the gallery atomically (temporary file + rename): a crash mid-save keeps the old file.
    public func save(to url: URL) throws {
        let now = Gallery.timestamp()
        let meta: [String: Any] = [
            "schema": Gallery.fileSchema,
            "schema_version": Gallery.fileSchemaVersion,
            "fingerprint": fingerprint,
            "dim": dimension,
            "artifact": artifact,
            "created": created.isEmpty ? now : created,
            "updated": now,
            "pets": pets.map { ["name": $0.name, "templates": $0.templates.count] as [String: Any] },
        ]
        let json = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
        let rows = pets.flatMap(\.templates)
        let npy = NPY.writeFloat32Matrix(rows: rows.count, cols: dimension, values: rows.flatMap { $0 })
        let archive = StoredZip.write([(Gallery.metaMember, json), (Gallery.templatesMember, npy)])
        do {
            try archive.write(to: url, options: .atomic)
        } catch {
            throw GalleryError("\(url.path): cannot write the gallery (\(error.localizedDescription))")
        }
    }

    private static func decode(_ url: URL, threshold: Double) throws -> Gallery {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw GalleryError("no such gallery file")
        }
        let members: [String: Data]
        do {
            members = try StoredZip.read(data)
        } catch let error as GalleryError {
            throw GalleryError("not a petface gallery or corrupt (\(error.message))")
        }
        guard let metaData = members[metaMember] else { throw GalleryError("not a petface gallery (no \(metaMember) inside)") }
        guard let meta = (try? JSONSerialization.jsonObject(with: metaData)) as? [String: Any] else {
            throw GalleryError("corrupt gallery (\(metaMember) is not a JSON object)")
        }
        guard meta["schema"] as? String == fileSchema else {
            throw GalleryError("not a petface gallery (expected schema '\(fileSchema)')")
        }
        guard let version = meta["schema_version"] as? Int, version >= 1 else {
            throw GalleryError("corrupt gallery (schema_version \(meta["schema_version"] ?? "missing"))")
        }
        guard version <= fileSchemaVersion else {
            throw GalleryError("gallery schema version \(version) is newer than this PetFaceKit reads (\(fileSchemaVersion)); "
                               + "update the app")
        }
        guard let dim = meta["dim"] as? Int, dim > 0, let fingerprint = meta["fingerprint"] as? String,
              let petList = meta["pets"] as? [[String: Any]] else {
            throw GalleryError("corrupt gallery (\(metaMember) lacks dim, fingerprint or pets)")
        }
        var counts: [(String, Int)] = []
        for p in petList {
            guard let name = p["name"] as? String, let n = p["templates"] as? Int else {
                throw GalleryError("corrupt gallery (a pet entry lacks name or templates)")
            }
            counts.append((name, n))
        }
        guard let templates = members[templatesMember] else {
            throw GalleryError("corrupt gallery (\(templatesMember) missing)")
        }
        let matrix = try NPY.readFloat32Matrix(templates)
        let total = counts.reduce(0) { $0 + $1.1 }
        guard matrix.rows == total, matrix.cols == dim else {
            throw GalleryError("corrupt gallery (templates are (\(matrix.rows), \(matrix.cols)), \(metaMember) says "
                               + "(\(total), \(dim)))")
        }
        guard Set(counts.map(\.0)).count == counts.count, counts.allSatisfy({ $0.1 >= 1 }) else {
            throw GalleryError("corrupt gallery (duplicate pet names or pets without templates)")
        }
        var pets: [Pet] = []
        var row = 0
        for (name, n) in counts {
            let rows = (row..<(row + n)).map { Array(matrix.values[($0 * dim)..<(($0 + 1) * dim)]) }
            guard rows.allSatisfy({ $0.allSatisfy(\.isFinite) && abs(Vector.norm($0) - 1) <= 1e-3 }) else {
                throw GalleryError("corrupt gallery (templates are not finite unit vectors)")
            }
            pets.append(Pet(name: name, templates: rows))
            row += n
        }
        return Gallery(fingerprint: fingerprint, dimension: dim, threshold: threshold,
                       artifact: meta["artifact"] as? String ?? "", created: meta["created"] as? String ?? "",
                       pets: pets)
    }

    /// UTC, seconds, `+00:00` suffix: the same form as Python's `datetime.isoformat()` in the gallery.
    private static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date()).replacingOccurrences(of: "Z", with: "+00:00")
    }
}
