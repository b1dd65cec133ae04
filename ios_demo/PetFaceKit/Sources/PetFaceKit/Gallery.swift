import Foundation

/// One enrolled pet ranked against a query.
public struct Match: Equatable, Sendable {
    public let name: String
    /// Maximum cosine over the pet's templates.
    public let score: Float
    /// `score >= threshold`.
    public let accepted: Bool

    public init(name: String, score: Float, accepted: Bool) {
        self.name = name
        self.score = score
        self.accepted = accepted
    }
}

/// Enrolled pets for one model, with the semantics of the Python runtime's `Gallery`:
/// each enrolled image is its own template, a pet's score is the maximum cosine over its
/// templates, matches are ranked by score descending then name ascending, and `accepted`
/// means `score >= threshold` (`identify(_:policy:)` takes it from the artifact's identify policy at the
/// gallery's size; the stored `threshold` is the default for the raw-threshold calls).
/// Bound to the fingerprint of the model that made the templates. Files: `GalleryFile`.
public struct Gallery: Sendable {
    public struct Pet: Equatable, Sendable {
        public let name: String
        /// Unit-length embeddings, one per enrolled image.
        public var templates: [[Float]]
    }

    public let fingerprint: String
    public let dimension: Int
    /// The artifact id whose embeddings these are (informational, saved with the gallery).
    public var artifact: String
    /// The default threshold for `identify` and `verify`.
    public var threshold: Double
    public var created: String
    /// Pets in enrollment order (the order the gallery file stores them in).
    public private(set) var pets: [Pet] = []

    public init(fingerprint: String, dimension: Int, threshold: Double, artifact: String = "", created: String = "") {
        self.fingerprint = fingerprint
        self.dimension = dimension
        self.threshold = threshold
        self.artifact = artifact
        self.created = created
    }

    /// Enrolled pet names, sorted (as Python's `Gallery.names()`).
    public var names: [String] { pets.map(\.name).sorted(by: codePointOrder) }
    public var count: Int { pets.count }
    public var templateCount: Int { pets.reduce(0) { $0 + $1.templates.count } }

    public func contains(_ name: String) -> Bool { index(of: name) != nil }

    public func templates(of name: String) throws -> [[Float]] {
        try pets[require(name)].templates
    }

    /// Adds `embeddings` (one per photo) as `name`'s templates; an existing pet gets more templates.
    /// Returns the pet's template count.
    @discardableResult
    public mutating func enroll(_ name: String, embeddings: [[Float]]) throws -> Int {
        let name = try Gallery.checkName(name)
        guard !embeddings.isEmpty else { throw GalleryError("enroll '\(name)': no images given") }
        let rows = try embeddings.map(unitRow)
        if let i = index(of: name) {
            pets[i].templates += rows
            return pets[i].templates.count
        }
        pets.append(Pet(name: name, templates: rows))
        return rows.count
    }

    public mutating func remove(_ name: String) throws {
        pets.remove(at: try require(name))
    }

    public mutating func rename(_ old: String, to new: String) throws {
        let new = try Gallery.checkName(new)
        let i = try require(old)
        if new == old { return }
        if contains(new) {
            throw GalleryError("cannot rename '\(old)' to '\(new)': '\(new)' is already enrolled")
        }
        pets[i] = Pet(name: new, templates: pets[i].templates)
    }

    /// The `topK` pets most like `embedding`, best first.
    public func identify(_ embedding: [Float], topK: Int = 5, threshold: Double? = nil) throws -> [Match] {
        guard topK >= 1 else { throw GalleryError("topK must be at least 1, got \(topK)") }
        let query = try unitRow(embedding)
        let limit = threshold ?? self.threshold
        let scored = pets.map { pet in (pet.name, Gallery.score(pet.templates, query)) }
        let ranked = scored.sorted { a, b in a.1 != b.1 ? a.1 > b.1 : codePointOrder(a.0, b.0) }
        return ranked.prefix(topK).map { Match(name: $0.0, score: $0.1, accepted: Double($0.1) >= limit) }
    }

    /// Is `embedding` the enrolled pet `name`? Score: max over its templates.
    public func verify(_ name: String, embedding: [Float], threshold: Double? = nil) throws -> Match {
        let score = Gallery.score(pets[try require(name)].templates, try unitRow(embedding))
        return Match(name: name, score: score, accepted: Double(score) >= (threshold ?? self.threshold))
    }

    /// Builds a gallery from stored pets without re-normalizing (so save/load is exact).
    init(fingerprint: String, dimension: Int, threshold: Double, artifact: String, created: String, pets: [Pet]) {
        self.init(fingerprint: fingerprint, dimension: dimension, threshold: threshold, artifact: artifact,
                  created: created)
        self.pets = pets
    }

    private static func score(_ templates: [[Float]], _ query: [Float]) -> Float {
        templates.map { Vector.dot($0, query) }.max() ?? -.infinity
    }

    private func index(of name: String) -> Int? { pets.firstIndex { $0.name == name } }

    private func require(_ name: String) throws -> Int {
        guard let i = index(of: name) else { throw GalleryError("no pet named '\(name)' in the gallery") }
        return i
    }

    private func unitRow(_ v: [Float]) throws -> [Float] {
        guard v.count == dimension else {
            throw GalleryError("embeddings must have \(dimension) dimensions, got \(v.count)")
        }
        guard v.allSatisfy(\.isFinite) else { throw GalleryError("embeddings contain NaN or infinity") }
        return Vector.l2Normalized(v)
    }

    /// Trimmed, non-empty, no control characters (the Python gallery's rule).
    static func checkName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw GalleryError("pet name must be a non-empty string, got '\(name)'") }
        guard !name.unicodeScalars.contains(where: { $0.value < 32 }) else {
            throw GalleryError("pet name must not contain control characters, got \(name.debugDescription)")
        }
        return trimmed
    }
}

/// Python's string order: code point by code point (Swift's `<` uses Unicode canonical ordering).
func codePointOrder(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
}

/// A gallery operation or file that cannot be done or used; the message says why.
public struct GalleryError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
