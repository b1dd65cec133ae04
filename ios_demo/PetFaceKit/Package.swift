// swift-tools-version:5.9
// PetFaceKit: the platform-neutral core of the iOS demo (manifest, PIL-exact preprocessing,
// gallery and its file format) plus CoreML and Vision glue compiled only on Apple platforms.
import PackageDescription

let package = Package(
    name: "PetFaceKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "PetFaceKit", targets: ["PetFaceKit"]),
    ],
    targets: [
        .target(name: "PetFaceKit"),
        .testTarget(name: "PetFaceKitTests", dependencies: ["PetFaceKit"]),
    ]
)
