package dev.petface.core

/**
 * A small strict JSON (RFC 8259) reader and writer.
 *
 * The core must stay free of Android classes (no `org.json`) and of extra libraries, and it
 * only reads `manifest.json` / `golden.json` and writes the gallery index, so a hundred
 * lines of parser beat a dependency. Values map to Kotlin as: object -> [Map] (insertion
 * ordered), array -> [List], string -> [String], number -> [Double], true/false -> [Boolean],
 * null -> `null`.
 */
object Json {
    class ParseException(message: String) : IllegalArgumentException(message)

    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipWhitespace()
        val value = reader.readValue()
        reader.skipWhitespace()
        if (reader.pos != text.length) throw reader.error("trailing characters")
        return value
    }

    /** Serializes maps, lists, strings, numbers, booleans and null; [indent] > 0 pretty-prints. */
    fun write(value: Any?, indent: Int = 0): String = StringBuilder().also { writeValue(it, value, indent, 0) }.toString()

    private fun writeValue(out: StringBuilder, value: Any?, indent: Int, depth: Int) {
        when (value) {
            null -> out.append("null")
            is String -> writeString(out, value)
            is Boolean -> out.append(value)
            is Float -> writeNumber(out, value.toDouble())
            is Double -> writeNumber(out, value)
            is Number -> out.append(value.toLong())
            is Map<*, *> -> writeContainer(out, "{", "}", value.entries.toList(), indent, depth) { e ->
                writeString(out, e.key as? String ?: throw IllegalArgumentException("JSON object keys must be strings"))
                out.append(if (indent > 0) ": " else ":")
                writeValue(out, e.value, indent, depth + 1)
            }
            is Iterable<*> -> writeContainer(out, "[", "]", value.toList(), indent, depth) { writeValue(out, it, indent, depth + 1) }
            is FloatArray -> writeValue(out, value.toList(), indent, depth)
            else -> throw IllegalArgumentException("cannot write ${value::class.simpleName} as JSON")
        }
    }

    private fun <T> writeContainer(
        out: StringBuilder, open: String, close: String, items: List<T>, indent: Int, depth: Int, item: (T) -> Unit,
    ) {
        out.append(open)
        items.forEachIndexed { i, v ->
            if (i > 0) out.append(',')
            if (indent > 0) out.append('\n').append(" ".repeat(indent * (depth + 1)))
            item(v)
        }
        if (indent > 0 && items.isNotEmpty()) out.append('\n').append(" ".repeat(indent * depth))
        out.append(close)
    }

    private fun writeNumber(out: StringBuilder, v: Double) {
        require(v.isFinite()) { "JSON cannot hold $v" }
        // Integral values print without ".0" so counts stay ints for Python readers.
        if (v == Math.rint(v) && kotlin.math.abs(v) < 1e15) out.append(v.toLong()) else out.append(v)
    }

    private fun writeString(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c < ' ' -> out.append(String.format("\\u%04x", c.code))
                else -> out.append(c)
            }
        }
        out.append('"')
    }

    private class Reader(val text: String) {
        var pos = 0

        fun error(what: String) = ParseException("invalid JSON at offset $pos: $what")

        fun skipWhitespace() {
            while (pos < text.length && text[pos] in " \t\r\n") pos++
        }

        fun readValue(): Any? {
            if (pos >= text.length) throw error("unexpected end of input")
            return when (val c = text[pos]) {
                '{' -> readObject()
                '[' -> readArray()
                '"' -> readString()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c in '0'..'9') readNumber() else throw error("unexpected '$c'")
            }
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, pos)) throw error("expected $word")
            pos += word.length
            return value
        }

        private fun readObject(): Map<String, Any?> {
            val map = LinkedHashMap<String, Any?>()
            pos++
            skipWhitespace()
            if (peek() == '}') { pos++; return map }
            while (true) {
                skipWhitespace()
                if (peek() != '"') throw error("expected a string key")
                val key = readString()
                skipWhitespace()
                expect(':')
                skipWhitespace()
                map[key] = readValue()
                skipWhitespace()
                when (next()) {
                    ',' -> continue
                    '}' -> return map
                    else -> { pos--; throw error("expected ',' or '}'") }
                }
            }
        }

        private fun readArray(): List<Any?> {
            val list = ArrayList<Any?>()
            pos++
            skipWhitespace()
            if (peek() == ']') { pos++; return list }
            while (true) {
                skipWhitespace()
                list.add(readValue())
                skipWhitespace()
                when (next()) {
                    ',' -> continue
                    ']' -> return list
                    else -> { pos--; throw error("expected ',' or ']'") }
                }
            }
        }

        private fun readString(): String {
            pos++
            val sb = StringBuilder()
            while (true) {
                if (pos >= text.length) throw error("unterminated string")
                val c = text[pos++]
                when {
                    c == '"' -> return sb.toString()
                    c == '\\' -> {
                        if (pos >= text.length) throw error("unterminated escape")
                        when (val e = text[pos++]) {
                            '"', '\\', '/' -> sb.append(e)
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (pos + 4 > text.length) throw error("short \\u escape")
                                val code = text.substring(pos, pos + 4).toIntOrNull(16) ?: throw error("bad \\u escape")
                                sb.append(code.toChar())
                                pos += 4
                            }
                            else -> throw error("bad escape '\\$e'")
                        }
                    }
                    c < ' ' -> throw error("control character in string")
                    else -> sb.append(c)
                }
            }
        }

        private fun readNumber(): Double {
            val start = pos
            if (peek() == '-') pos++
            while (pos < text.length && (text[pos].isDigit() || text[pos] in ".eE+-")) pos++
            val token = text.substring(start, pos)
            // Python's json module writes NaN/Infinity; a manifest never should, and toDouble() would accept them.
            if (!NUMBER.matches(token)) throw error("bad number '$token'")
            return token.toDouble()
        }

        private fun peek(): Char = if (pos < text.length) text[pos] else '\u0000'

        private fun next(): Char = if (pos < text.length) text[pos++] else throw error("unexpected end of input")

        private fun expect(c: Char) {
            if (next() != c) { pos--; throw error("expected '$c'") }
        }
    }

    private val NUMBER = Regex("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")
}
