package dev.petface.core

import kotlin.math.ln

/** A target rate the artifact's calibration cannot support (or never calibrated): refused, never guessed. */
class UnsupportedTargetException(message: String) : IllegalArgumentException(message)

/**
 * The decision rule a result was judged by: accept when `score >= threshold`. [target] is the
 * FAR (verify) or FPIR (identify) the threshold was calibrated for, null for a raw threshold;
 * [gallerySize] is the template count an identify threshold was chosen at.
 */
data class OperatingPoint(val policy: String, val threshold: Double, val target: Double?, val gallerySize: Int?)

/**
 * The two decision policies of one artifact, from its manifest `thresholds` (written by
 * `petface_edge.thresholds.calibrate_policies`; the same lookup as `identify_threshold` there):
 * verify thresholds per target FAR, identify thresholds per target FPIR over gallery template
 * counts, linear in ln N between table entries. Null entries are targets the calibration cannot
 * support; asking for one throws [UnsupportedTargetException].
 */
class DecisionTables(
    val defaultFar: Double,
    val verify: Map<String, Double?>,
    val defaultFpir: Double,
    val templateCounts: List<Int>,
    val identify: Map<String, List<Double?>>,
    private val where: String,
) {
    fun verifyPoint(far: Double = defaultFar): OperatingPoint {
        val value = entry(verify, far, "verify FAR")
            ?: throw UnsupportedTargetException("$where: verify FAR ${show(far)} is below what its calibration supports; choose a higher FAR or pass a raw threshold")
        return OperatingPoint(VERIFY, value, far, null)
    }

    /** The identify operating point for [fpir] over a gallery of [templates] templates. */
    fun identifyPoint(templates: Int, fpir: Double = defaultFpir): OperatingPoint {
        val column = entry(identify, fpir, "identify FPIR")
        val n = maxOf(templates, templateCounts.first())
        val hi = templateCounts.indexOfFirst { it >= n }
        if (hi < 0 || column[hi] == null || (templateCounts[hi] != n && column[hi - 1] == null)) {
            val largest = templateCounts.filterIndexed { i, _ -> column[i] != null }.maxOrNull() ?: 0
            throw UnsupportedTargetException("$where: identify FPIR ${show(fpir)} over $templates templates is beyond what its " +
                "calibration supports (up to $largest templates); choose a higher FPIR or pass a raw threshold")
        }
        val threshold = if (templateCounts[hi] == n) column[hi]!! else {
            val lo = hi - 1
            val f = (ln(n.toDouble()) - ln(templateCounts[lo].toDouble())) / (ln(templateCounts[hi].toDouble()) - ln(templateCounts[lo].toDouble()))
            column[lo]!! + f * (column[hi]!! - column[lo]!!)
        }
        return OperatingPoint(IDENTIFY, threshold, fpir, templates)
    }

    private fun <T> entry(table: Map<String, T>, rate: Double, what: String): T {
        val key = rateKey(rate)
        if (key !in table || Math.abs(key.toDouble() - rate) > 1e-9 * rate) {
            throw UnsupportedTargetException("$where: $what ${show(rate)} was not calibrated (calibrated: ${table.keys.joinToString()}); pass one of those or a raw threshold")
        }
        return table.getValue(key)
    }

    companion object {
        const val VERIFY = "verify"
        const val IDENTIFY = "identify"

        /** The manifest's spelling of a rate, as Python's `rate_key`: 1e-3 -> "1e-3". */
        fun rateKey(rate: Double): String = String.format(java.util.Locale.ROOT, "%.0e", rate).replace("e-0", "e-").replace("e+0", "e")

        private fun show(rate: Double): String = rateKey(rate)

        /**
         * The tables in an artifact's `thresholds` object, or null when it predates them (re-export).
         * A malformed table throws [ManifestException], so that artifact is skipped with the reason.
         */
        fun parse(thresholds: JsonFields?, artifactId: String): DecisionTables? {
            if (thresholds == null) return null
            val v = thresholds.optObj("verify") ?: return null
            val i = thresholds.optObj("identify") ?: return null
            try {
                val verifyTable = v.obj("thresholds")
                val identifyTable = i.obj("thresholds")
                val counts = i.list("template_counts").mapIndexed { k, c ->
                    (c as? Number)?.toInt() ?: throw ManifestException("${i.where}.template_counts[$k] must be a number")
                }
                if (counts.isEmpty() || counts.zipWithNext().any { (a, b) -> b <= a }) {
                    throw ManifestException("${i.where}.template_counts must rise strictly")
                }
                val identify = identifyTable.keys.associateWith { key ->
                    val column = identifyTable.list(key).map { (it as? Number)?.toDouble() }
                    if (column.size != counts.size) {
                        throw ManifestException("${identifyTable.where}.$key: ${column.size} thresholds for ${counts.size} template counts")
                    }
                    column
                }
                return DecisionTables(
                    v.double("default_far"), verifyTable.keys.associateWith { (verifyTable.raw(it) as? Number)?.toDouble() },
                    i.double("default_fpir"), counts, identify, artifactId,
                )
            } catch (e: JsonFields.FieldException) {
                throw ManifestException(e.message!!)
            }
        }
    }
}
