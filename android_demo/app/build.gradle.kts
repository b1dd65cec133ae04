import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "dev.petface.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.petface.demo"
        minSdk = 28 // ImageDecoder (EXIF-aware decoding of picked photos)
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug") // a demo: installable release build without a keystore
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
    }

    // The model is memory-mapped straight from the APK, which needs it stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    // JVM unit tests of the Android-free engine against the real .tflite (see ../core/build.gradle.kts).
    testOptions {
        unitTests.all { test ->
            test.useJUnitPlatform()
            for (name in listOf("petface.golden", "petface.litert", "petface.python")) {
                providers.gradleProperty(name).orNull?.let { test.systemProperty(name, rootProject.file(it).absolutePath) }
            }
        }
    }
}

// No jvmToolchain: bytecode level 17 from whatever JDK 17+ runs Gradle (Android Studio's bundled
// JBR 21 included), so a fresh install needs no toolchain download or resolver plugin.
kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.kotlinx.coroutines.android)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.foundation)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)

    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)

    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)

    testImplementation(testFixtures(project(":core")))
    testRuntimeOnly(libs.junit.platform.launcher)
}

// --- The model: copied from a petface-export output directory into assets/petface/ -----------
//
//   ./gradlew :app:importPetfaceModel -Ppetface.exportDir=/path/to/export
//
// copies manifest.json and every verified ("passed") TFLite artifact it lists; the manifest is
// kept as exported, reduced to the copied artifacts (paths relative to assets/petface/).
val petfaceAssets: Directory = layout.projectDirectory.dir("src/main/assets/petface")

val importPetfaceModel by tasks.registering {
    group = "petface"
    description = "Copies manifest.json and the verified .tflite artifacts of a petface-export directory into assets/petface/."
    val exportDir = providers.gradleProperty("petface.exportDir").orElse(providers.environmentVariable("PETFACE_EXPORT_DIR"))
    val target = petfaceAssets.asFile
    notCompatibleWithConfigurationCache("reads an arbitrary export directory given on the command line")
    doLast {
        val dir = File(exportDir.orNull ?: throw GradleException("pass -Ppetface.exportDir=<petface-export output directory>"))
        val manifestFile = dir.resolve("manifest.json")
        if (!manifestFile.isFile) throw GradleException("$manifestFile: no manifest.json (expected a petface-export output directory)")
        @Suppress("UNCHECKED_CAST")
        val manifest = JsonSlurper().parse(manifestFile) as Map<String, Any?>
        if (manifest["schema"] != "petface-manifest") throw GradleException("$manifestFile: not a petface manifest")
        if (manifest["schema_version"] != 1) {  // the major version; a newer schema_minor only adds fields
            throw GradleException("$manifestFile: manifest schema version ${manifest["schema_version"]} is not supported (reads 1, any minor)")
        }
        @Suppress("UNCHECKED_CAST")
        val shipped = (manifest["artifacts"] as List<Map<String, Any?>>)
            .filter { it["format"] == "tflite" && it["status"] == "passed" }
        if (shipped.isEmpty()) throw GradleException("$manifestFile: no verified TFLite artifact to ship")
        target.deleteRecursively()
        target.mkdirs()
        val kept = shipped.map { artifact ->
            val source = dir.resolve(artifact["path"] as String)
            if (!source.isFile) throw GradleException("$source: listed in $manifestFile but missing")
            source.copyTo(target.resolve(source.name))
            artifact + ("path" to source.name)
        }
        target.resolve("manifest.json").writeText(JsonOutput.prettyPrint(JsonOutput.toJson(manifest + ("artifacts" to kept))) + "\n")
        logger.lifecycle("petface: copied ${kept.map { it["id"] }} from $dir into $target")
    }
}

// Fail the build early, with the fix, when no model has been imported.
val checkPetfaceModel by tasks.registering {
    group = "petface"
    val manifest = petfaceAssets.file("manifest.json").asFile
    doLast {
        if (!manifest.isFile) {
            throw GradleException("$manifest is missing: run ./gradlew :app:importPetfaceModel -Ppetface.exportDir=<petface-export dir>")
        }
    }
}
tasks.named("preBuild") { dependsOn(checkPetfaceModel) }
