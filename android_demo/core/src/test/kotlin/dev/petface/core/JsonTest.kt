package dev.petface.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class JsonTest {
    @Test
    fun `parses every JSON type`() {
        val v = Json.parse("""{"a": [1, -2.5e1, true, false, null], "s": "x\"\\\n\u00e9\ud83d\ude00", "o": {}}""") as Map<*, *>
        assertEquals(listOf(1.0, -25.0, true, false, null), v["a"])
        assertEquals("x\"\\\né\uD83D\uDE00", v["s"])
        assertEquals(emptyMap<String, Any?>(), v["o"])
    }

    @Test
    fun `write then parse is the identity`() {
        val value = linkedMapOf("name" to "Luna \"the\" cat\t", "n" to 3, "x" to 0.125, "list" to listOf(1, "two", null, false))
        for (indent in listOf(0, 2)) {
            val back = Json.parse(Json.write(value, indent)) as Map<*, *>
            assertEquals(listOf(1.0, "two", null, false), back["list"])
            assertEquals("Luna \"the\" cat\t", back["name"])
            assertEquals(3.0, back["n"])
            assertEquals(0.125, back["x"])
        }
        assertEquals("""{"n":3}""", Json.write(mapOf("n" to 3.0)), "integral numbers stay ints for Python")
    }

    @Test
    fun `rejects malformed input with the offset`() {
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "01", "NaN", "\"abc", "[1] x", "{'a': 1}", "")) {
            val e = assertThrows<Json.ParseException>("should reject: $bad") { Json.parse(bad) }
            assertTrue(e.message!!.startsWith("invalid JSON at offset"), e.message)
        }
    }
}
