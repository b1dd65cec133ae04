package dev.petface.core

/** One enrolled pet ranked against a query. */
data class Match(val name: String, val score: Double, val accepted: Boolean)

data class Verification(val score: Double, val accepted: Boolean, val threshold: Double)

/** Ranked matches of one query and the identify operating point that judged them. */
data class IdentifyResult(val matches: List<Match>, val operatingPoint: OperatingPoint) {
    /** The accepted top match's name, or null when the query is nobody enrolled. */
    val best: String? get() = matches.firstOrNull()?.takeIf { it.accepted }?.name
}

class GalleryException(message: String) : IllegalArgumentException(message)

/**
 * Enrolled pets for one model, with the Python runtime's rules (`petface_edge/runtime/gallery.py`):
 * every enrollment image is its own template; a pet's score for a query is the **maximum
 * cosine over its templates**; matches are ranked by score descending, ties by name
 * ascending; `accepted = score >= threshold`. With [DecisionTables] the threshold is the identify
 * policy's at the gallery's current template count (default FPIR 1e-2), so it rises as the gallery
 * grows. A gallery is bound to the fingerprint of the model that made its templates (embeddings of
 * two models are not comparable).
 *
 * Thread-safe. Saved and loaded by [GalleryFile] in the Python gallery's file format.
 */
class Gallery(val fingerprint: String, val dim: Int, val artifact: String = "", val created: String = "") {
    private val pets = LinkedHashMap<String, MutableList<FloatArray>>()

    init {
        require(fingerprint.isNotEmpty()) { "a gallery must be bound to a model fingerprint" }
        require(dim > 0) { "dim must be positive, got $dim" }
    }

    /** Enrolled names, sorted. */
    @Synchronized
    fun names(): List<String> = pets.keys.sorted()

    @Synchronized
    fun size(): Int = pets.size

    @Synchronized
    operator fun contains(name: String): Boolean = name in pets

    @Synchronized
    fun templateCount(name: String): Int = templatesOf(name).size

    /** Templates over every pet: the N an identify threshold is chosen for. */
    @Synchronized
    fun templateTotal(): Int = pets.values.sumOf { it.size }

    /** A copy of [name]'s templates. */
    @Synchronized
    fun templates(name: String): List<FloatArray> = templatesOf(name).map { it.copyOf() }

    /** Pets in insertion (file) order with copies of their templates. */
    @Synchronized
    fun entries(): List<Pair<String, List<FloatArray>>> = pets.map { (n, t) -> n to t.map { it.copyOf() } }

    /**
     * Adds [embeddings] (one per photo, from this gallery's model) as [name]'s templates;
     * enrolling an existing name adds to it. Returns the pet's template count.
     */
    @Synchronized
    fun enroll(name: String, embeddings: List<FloatArray>): Int {
        val clean = checkName(name)
        if (embeddings.isEmpty()) throw GalleryException("enroll '$clean': no images given")
        val rows = embeddings.map { unit(it) }
        pets.getOrPut(clean) { ArrayList() }.addAll(rows)
        return pets.getValue(clean).size
    }

    /** Adds templates exactly as stored in a gallery file (no re-normalization, so save/load is exact). */
    @Synchronized
    internal fun restore(name: String, templates: List<FloatArray>) {
        pets.getOrPut(name) { ArrayList() }.addAll(templates)
    }

    @Synchronized
    fun remove(name: String) {
        templatesOf(name)
        pets.remove(name)
    }

    @Synchronized
    fun rename(old: String, new: String) {
        val clean = checkName(new)
        val templates = templatesOf(old)
        if (clean == old) return
        if (clean in pets) throw GalleryException("cannot rename '$old' to '$clean': '$clean' is already enrolled")
        // Rebuild to keep the pet's position in file order, as the Python gallery does.
        val copy = LinkedHashMap(pets)
        pets.clear()
        for ((n, t) in copy) pets[if (n == old) clean else n] = if (n == old) templates else t
    }

    /** The [topK] enrolled pets most like [query], best first. */
    @Synchronized
    fun identify(query: FloatArray, threshold: Double, topK: Int = 5): List<Match> {
        require(topK >= 1) { "topK must be at least 1, got $topK" }
        val q = unit(query)
        return pets.map { (name, templates) -> name to petScore(templates, q) }
            .sortedWith(compareByDescending<Pair<String, Double>> { it.second }.thenBy { it.first })
            .take(topK)
            .map { (name, score) -> Match(name, score, score >= threshold) }
    }

    /** [identify] by the identify policy of [tables]: target [fpir] (default the manifest's) at this gallery's size. */
    @Synchronized
    fun identify(query: FloatArray, tables: DecisionTables, topK: Int = 5, fpir: Double = tables.defaultFpir): IdentifyResult {
        val point = tables.identifyPoint(templateTotal(), fpir)
        return IdentifyResult(identify(query, point.threshold, topK), point)
    }

    /** Is [query] the enrolled pet [name]? Score: max cosine over its templates. */
    @Synchronized
    fun verify(name: String, query: FloatArray, threshold: Double): Verification {
        val score = petScore(templatesOf(name), unit(query))
        return Verification(score, score >= threshold, threshold)
    }

    /** [verify] by the verify policy of [tables]: target [far] (default the manifest's, FAR 1e-3). */
    @Synchronized
    fun verify(name: String, query: FloatArray, tables: DecisionTables, far: Double = tables.defaultFar): Verification =
        verify(name, query, tables.verifyPoint(far).threshold)

    private fun petScore(templates: List<FloatArray>, q: FloatArray): Double = templates.maxOf { Vectors.dot(it, q) }

    private fun templatesOf(name: String): MutableList<FloatArray> =
        pets[name] ?: throw NoSuchElementException("no pet named '$name' in the gallery")

    private fun unit(v: FloatArray): FloatArray {
        if (v.size != dim) throw GalleryException("embeddings must have $dim dimensions, got ${v.size}")
        if (v.any { !it.isFinite() }) throw GalleryException("embedding contains NaN or infinity")
        return Vectors.l2Normalize(v)
    }

    companion object {
        /** The Python gallery's name rule: non-blank, no control characters, surrounding blanks trimmed. */
        fun checkName(name: String): String {
            if (name.isBlank()) throw GalleryException("pet name must not be empty")
            if (name.any { it.code < 32 }) throw GalleryException("pet name must not contain control characters")
            return name.trim()
        }
    }
}
