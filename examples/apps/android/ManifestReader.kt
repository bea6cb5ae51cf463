// Chooses a variant from an edgeops manifest.json on an Android device.
//
// In an app: keys = mapOf("ro.product.device" to Build.DEVICE, "ro.product.model" to Build.MODEL),
// freeMb from ActivityManager.MemoryInfo.availMem, accelerators from what the app's LiteRT
// build offers ("gpu", "nnapi"). Parsing is done here by a small JSON reader so the file
// compiles alone (kotlinc ManifestReader.kt); an app would use org.json instead.
//
// Readers ignore keys they do not know: manifest 1.x only adds keys.
package edgeops.example

import java.io.File

data class Choice(val variant: String, val file: String, val runtime: String?, val computeUnit: String)

/** The first choice of the profile matching [keys] that fits [freeMb] and [accelerators]. */
fun choose(manifest: Map<String, Any?>, keys: Map<String, String>, freeMb: Double, accelerators: Set<String>): Choice? {
    @Suppress("UNCHECKED_CAST")
    val profiles = manifest["profiles"] as Map<String, Map<String, Any?>>
    @Suppress("UNCHECKED_CAST")
    val variants = manifest["variants"] as Map<String, Map<String, Any?>>
    val profile = profiles.values.firstOrNull { matches(it, keys) } ?: return null
    if (profile["status"] != "supported") return null
    @Suppress("UNCHECKED_CAST")
    for (choice in profile["choices"] as List<Map<String, Any?>>) {
        val minFree = choice["min_free_memory_mb"] as Double?
        if (minFree != null && freeMb < minFree) continue // fall back: not enough memory free
        @Suppress("UNCHECKED_CAST")
        val requires = (choice["requires"] as List<String>?) ?: emptyList()
        if (!accelerators.containsAll(requires)) continue // fall back: accelerator missing
        val variant = variants.getValue(choice["variant"] as String)
        return Choice(choice["variant"] as String, variant["file"] as String, choice["runtime"] as String?, choice["compute_unit"] as String)
    }
    return null
}

/** A profile matches when any of its keys has a value equal to the device's ('*' ends a prefix). */
fun matches(profile: Map<String, Any?>, keys: Map<String, String>): Boolean {
    @Suppress("UNCHECKED_CAST")
    val match = (profile["match"] as Map<String, List<String>>?) ?: return false
    return match.any { (key, values) ->
        val mine = keys[key] ?: return@any false
        values.any { if (it.endsWith("*")) mine.startsWith(it.dropLast(1)) else mine == it }
    }
}

// ------------------------------------------------------------------ a minimal JSON reader

class Json(private val text: String) {
    private var i = 0

    fun parse(): Any? { val v = value(); space(); require(i == text.length) { "trailing text at $i" }; return v }

    private fun space() { while (i < text.length && text[i].isWhitespace()) i++ }

    private fun value(): Any? {
        space()
        return when (val c = text[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> { i += 4; true }
            'f' -> { i += 5; false }
            'n' -> { i += 4; null }
            else -> if (c == '-' || c.isDigit()) num() else error("unexpected '$c' at $i")
        }
    }

    private fun obj(): Map<String, Any?> {
        val out = LinkedHashMap<String, Any?>(); i++; space()
        if (text[i] == '}') { i++; return out }
        while (true) {
            space(); val k = str(); space(); require(text[i] == ':'); i++
            out[k] = value(); space()
            if (text[i++] == '}') return out
        }
    }

    private fun arr(): List<Any?> {
        val out = ArrayList<Any?>(); i++; space()
        if (text[i] == ']') { i++; return out }
        while (true) { out.add(value()); space(); if (text[i++] == ']') return out }
    }

    private fun str(): String {
        val sb = StringBuilder(); i++
        while (text[i] != '"') {
            if (text[i] == '\\') {
                i++
                when (val e = text[i]) {
                    'n' -> sb.append('\n'); 't' -> sb.append('\t'); 'r' -> sb.append('\r')
                    'b' -> sb.append('\b'); 'f' -> sb.append('\u000c')
                    'u' -> { sb.append(text.substring(i + 1, i + 5).toInt(16).toChar()); i += 4 }
                    else -> sb.append(e)
                }
            } else sb.append(text[i])
            i++
        }
        i++
        return sb.toString()
    }

    private fun num(): Double {
        val start = i
        while (i < text.length && (text[i].isDigit() || text[i] in "+-.eE")) i++
        return text.substring(start, i).toDouble()
    }
}

/** java -jar reader.jar manifest.json FREE_MB [--has=gpu,nnapi] [KEY=VALUE ...] */
fun main(args: Array<String>) {
    @Suppress("UNCHECKED_CAST")
    val manifest = Json(File(args[0]).readText()).parse() as Map<String, Any?>
    val freeMb = args[1].toDouble()
    val has = args.drop(2).firstOrNull { it.startsWith("--has=") }?.removePrefix("--has=")
    val accelerators = has?.split(",")?.filter { it.isNotEmpty() }?.toSet() ?: emptySet()
    val keys = args.drop(2).filter { !it.startsWith("--") }.associate { it.substringBefore("=") to it.substringAfter("=") }
    val choice = choose(manifest, keys, freeMb, accelerators)
    println(if (choice == null) "none" else "${choice.variant} ${choice.file} ${choice.runtime} ${choice.computeUnit}")
}
