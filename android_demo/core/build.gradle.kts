import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// Pure Kotlin/JVM: no Android classes, so the same code is unit-tested on the JVM against the
// real .tflite files (see ../run_core_tests.sh, which make test runs without Gradle).
plugins {
    alias(libs.plugins.kotlin.jvm)
    `java-test-fixtures` // LiteRtRunner + golden-file loader, shared with the app module's JVM tests
}

// No jvmToolchain (see ../app/build.gradle.kts): level 17 from the JDK that runs Gradle.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    testFixturesApi(platform("org.junit:junit-bom:${libs.versions.junit.get()}"))
    testFixturesApi(libs.junit.jupiter)
    testFixturesApi(libs.jna)
    testRuntimeOnly(libs.junit.platform.launcher)
}

// The golden tests need the golden files, libLiteRt.so and the project's Python:
//   ./gradlew :core:test -Ppetface.golden=../build/test-pipeline/golden \
//       -Ppetface.litert=../.venv/lib/python3.11/site-packages/ai_edge_litert/libLiteRt.so -Ppetface.python=../.venv/bin/python
tasks.test {
    useJUnitPlatform()
    for (name in listOf("petface.golden", "petface.litert", "petface.python")) {
        providers.gradleProperty(name).orNull?.let { systemProperty(name, rootProject.file(it).absolutePath) }
    }
    testLogging { events("passed", "failed"); showStandardStreams = true }
}
