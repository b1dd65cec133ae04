package dev.petface.core

import kotlin.math.sqrt

/** Embedding arithmetic shared by the embedder and the gallery. */
object Vectors {
    /** Unit-length copy of [v] (the zero vector stays zero, like the Python runtime's 1e-12 floor). */
    fun l2Normalize(v: FloatArray): FloatArray {
        var ss = 0.0
        for (x in v) ss += x.toDouble() * x
        val n = maxOf(sqrt(ss), 1e-12)
        return FloatArray(v.size) { (v[it] / n).toFloat() }
    }

    /** Dot product; equals the cosine similarity for unit vectors. */
    fun dot(a: FloatArray, b: FloatArray): Double {
        require(a.size == b.size) { "vectors differ in length: ${a.size} vs ${b.size}" }
        var s = 0.0
        for (i in a.indices) s += a[i].toDouble() * b[i]
        return s
    }

    /** Cosine similarity of any two non-zero vectors. */
    fun cosine(a: FloatArray, b: FloatArray): Double {
        val n = sqrt(dot(a, a) * dot(b, b))
        return if (n == 0.0) 0.0 else dot(a, b) / n
    }
}
