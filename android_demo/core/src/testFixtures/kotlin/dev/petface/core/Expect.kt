package dev.petface.core

import org.junit.jupiter.api.Assertions

/**
 * `assertThrows<T> { }` for Kotlin: Debian's JUnit 5 jar lacks junit-jupiter-api's Kotlin
 * extension functions, so the tests use this one-liner over the Java API.
 */
inline fun <reified T : Throwable> assertThrows(message: String = "", noinline body: () -> Unit): T =
    Assertions.assertThrows(T::class.java, { body() }, message)
