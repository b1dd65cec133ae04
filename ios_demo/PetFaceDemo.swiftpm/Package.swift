// swift-tools-version: 5.9
// PetFaceDemo: the SwiftUI app (iOS 17+). An app package: open this folder in Xcode 15 or newer on a Mac
// (File > Open... > PetFaceDemo.swiftpm), pick your team under Signing & Capabilities, run on an iPhone.
// The model comes from `ios_demo/add_model.sh EXPORT_DIR`, which fills Sources/Model. See ../README.md.
import AppleProductTypes
import PackageDescription

let package = Package(
    name: "PetFaceDemo",
    platforms: [
        .iOS("17.0"),
    ],
    products: [
        .iOSApplication(
            name: "PetFaceDemo",
            targets: ["AppModule"],
            bundleIdentifier: "dev.petface-edge.demo",
            teamIdentifier: "",
            displayVersion: "1.0",
            bundleVersion: "1",
            appIcon: .placeholder(icon: .heart),
            accentColor: .presetColor(.orange),
            supportedDeviceFamilies: [
                .pad,
                .phone,
            ],
            supportedInterfaceOrientations: [
                .portrait,
                .landscapeRight,
                .landscapeLeft,
                .portraitUpsideDown(.when(deviceFamilies: [.pad])),
            ],
            capabilities: [
                .camera(purposeString: "PetFaceDemo photographs your pet to enroll and recognize it. Photos stay on this device."),
            ]
        ),
    ],
    dependencies: [
        .package(path: "../PetFaceKit"),
    ],
    targets: [
        .executableTarget(
            name: "AppModule",
            dependencies: [
                .product(name: "PetFaceKit", package: "PetFaceKit"),
            ],
            path: "Sources",
            // The export (manifest.json + .mlpackage) is copied verbatim and compiled on first launch.
            resources: [
                .copy("Model"),
            ]
        ),
    ]
)
