package dev.petface.core

/**
 * Typed, checked access to a parsed JSON object. Every error names the document and the
 * field path, so a bad manifest says what is wrong instead of throwing a ClassCastException.
 */
class JsonFields(private val map: Map<String, Any?>, val where: String) {
    class FieldException(message: String) : IllegalArgumentException(message)

    val keys: Set<String> get() = map.keys

    fun has(key: String): Boolean = map[key] != null

    private fun fail(key: String, expected: String): Nothing =
        throw FieldException("$where: field '$key' must be $expected, got ${describe(map[key])}")

    fun string(key: String): String = map[key] as? String ?: fail(key, "a string")

    fun optString(key: String, default: String): String = if (has(key)) string(key) else default

    fun double(key: String): Double = (map[key] as? Number)?.toDouble() ?: fail(key, "a number")

    fun int(key: String): Int {
        val d = double(key)
        if (d != Math.rint(d) || d !in Int.MIN_VALUE.toDouble()..Int.MAX_VALUE.toDouble()) fail(key, "an integer")
        return d.toInt()
    }

    fun optInt(key: String): Int? = if (has(key)) int(key) else null

    fun bool(key: String, default: Boolean): Boolean = if (!has(key)) default else map[key] as? Boolean ?: fail(key, "true or false")

    fun obj(key: String): JsonFields = optObj(key) ?: fail(key, "an object")

    @Suppress("UNCHECKED_CAST")
    fun optObj(key: String): JsonFields? {
        if (!has(key)) return null
        val m = map[key] as? Map<String, Any?> ?: fail(key, "an object")
        return JsonFields(m, "$where.$key")
    }

    fun list(key: String): List<Any?> = map[key] as? List<Any?> ?: fail(key, "a list")

    fun objects(key: String): List<JsonFields> = list(key).mapIndexed { i, v ->
        @Suppress("UNCHECKED_CAST")
        JsonFields(v as? Map<String, Any?> ?: throw FieldException("$where.$key[$i] must be an object"), "$where.$key[$i]")
    }

    fun floats(key: String): FloatArray = list(key).mapIndexed { i, v ->
        (v as? Number)?.toFloat() ?: throw FieldException("$where.$key[$i] must be a number, got ${describe(v)}")
    }.toFloatArray()

    fun strings(key: String): List<String> = list(key).mapIndexed { i, v ->
        v as? String ?: throw FieldException("$where.$key[$i] must be a string, got ${describe(v)}")
    }

    /** Untyped view, for maps keyed by data (e.g. embeddings per image id). */
    fun raw(key: String): Any? = map[key]

    companion object {
        /** Parses [text] and requires a top-level object; errors name [where]. */
        @Suppress("UNCHECKED_CAST")
        fun parse(text: String, where: String): JsonFields {
            val value = try {
                Json.parse(text)
            } catch (e: Json.ParseException) {
                throw FieldException("$where: not valid JSON (${e.message})")
            }
            return JsonFields(value as? Map<String, Any?> ?: throw FieldException("$where: expected a JSON object"), where)
        }

        private fun describe(v: Any?): String = when (v) {
            null -> "nothing"
            is String -> "\"${v.take(40)}\""
            is Map<*, *> -> "an object"
            is List<*> -> "a list"
            else -> v.toString()
        }
    }
}
