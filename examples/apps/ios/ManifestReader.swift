// Chooses a variant from an edgeops manifest.json on an iPhone.
//
// In an app: machine from uname() (utsname.machine, e.g. "iPhone13,2"), freeMb from
// os_proc_available_memory() / 1_048_576, hasNeuralEngine from the chip. Codable
// ignores keys it does not declare, which is what manifest 1.x asks of readers.
//
// Not compiled on this machine (Debian bookworm packages no Swift toolchain); see README.
import Foundation

struct Manifest: Decodable {
    let schema_version: String
    let variants: [String: Variant]
    let profiles: [String: Profile]

    struct Variant: Decodable {
        let file: String
        let sha256: String
    }

    struct Profile: Decodable {
        let status: String
        let match: [String: [String]]?
        let choices: [Choice]
    }

    struct Choice: Decodable {
        let variant: String
        let compute_unit: String
        let requires: [String]?
        let min_free_memory_mb: Double?
        let runtime: String?  // what loads it: tflite (LiteRT), coreml, coreai, onnx
        let min_os: String?   // e.g. "iOS16": fall back past it on an older iOS
    }
}

struct Chosen {
    let file: String
    let computeUnit: String  // MLComputeUnits: cpu_only, cpu_and_gpu, cpu_and_ne, all
}

/// A profile matches when one of its keys has the device's value ("*" ends a prefix).
func matches(_ profile: Manifest.Profile, keys: [String: String]) -> Bool {
    guard let match = profile.match else { return false }
    return match.contains { key, values in
        guard let mine = keys[key] else { return false }
        return values.contains { v in v.hasSuffix("*") ? mine.hasPrefix(String(v.dropLast())) : mine == v }
    }
}

/// The first choice that fits the free memory and the accelerators; nil when none does.
func choose(_ manifest: Manifest, keys: [String: String], freeMb: Double, accelerators: Set<String>) -> Chosen? {
    guard let profile = manifest.profiles.values.first(where: { matches($0, keys: keys) }),
          profile.status == "supported" else { return nil }
    for choice in profile.choices {
        if let minFree = choice.min_free_memory_mb, freeMb < minFree { continue }
        if !Set(choice.requires ?? []).isSubset(of: accelerators) { continue }
        guard let variant = manifest.variants[choice.variant] else { continue }
        return Chosen(file: variant.file, computeUnit: choice.compute_unit)
    }
    return nil
}

// swift ManifestReader.swift manifest.json FREE_MB MACHINE [ane]
let args = CommandLine.arguments
let data = try Data(contentsOf: URL(fileURLWithPath: args[1]))
let manifest = try JSONDecoder().decode(Manifest.self, from: data)
let accelerators: Set<String> = args.count > 4 && args[4] == "ane" ? ["ane"] : []
if let chosen = choose(manifest, keys: ["hw.machine": args[3]], freeMb: Double(args[2])!, accelerators: accelerators) {
    print("\(chosen.file) \(chosen.computeUnit)")
} else {
    print("none")
}
