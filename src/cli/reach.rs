//! Whether the preload can reach a program's sockets at all: what `tapstack run` asks of PROGRAM
//! before it execs it. `libtapstack.so` takes over libc's socket calls, so a program that makes
//! its system calls without going through libc runs on the kernel's sockets under `tapstack run`,
//! silently; the project refuses what it cannot do rather than ignore it. Two kinds are out of
//! reach:
//! - a statically linked program: it has no PT_INTERP, so no dynamic loader runs and nothing reads
//!   LD_PRELOAD (ld.so(8): the loader is what loads the preloaded objects, and only a dynamically
//!   linked program has one). A static-pie is ET_DYN but has no PT_INTERP either.
//! - a Go program, linked statically or not: Go's runtime issues its system calls itself (the Go
//!   syscall package's `Syscall` is the machine's syscall instruction), not through libc. Its
//!   linker marks it with a `.note.go.buildid` section (a PT_NOTE of owner "Go", type 4) and a
//!   `.go.buildinfo` section (what `go version -m` reads).
//!
//! The check reads the ELF file header, the program headers and the section names, each read
//! bounded; a script is judged by the interpreter its `#!` line names (one level, as the kernel
//! runs it). What it cannot read or does not understand (a truncated or foreign file, a script of
//! a script) passes, and exec judges it.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The most bytes read for one table (program headers, section headers, section names, notes).
const MAX_READ: u64 = 1 << 20;
/// The most PT_NOTE segments looked into.
const MAX_NOTES: usize = 16;
/// What the kernel reads of a `#!` line (BINPRM_BUF_SIZE, 256 since Linux 5.1).
const SHEBANG_MAX: usize = 256;

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
/// The Go linker's build-ID note type (cmd/link: ELF_NOTE_GOBUILDID_TAG).
const NT_GO_BUILDID: u32 = 4;
const GO_SECTIONS: [&[u8]; 2] = [b".note.go.buildid", b".go.buildinfo"];

/// Bytes at an offset: a file, or a byte array in the tests.
pub trait Source {
    /// Exactly `len` bytes at `offset`, or `None` when they are not all there.
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Vec<u8>>;
}

impl Source for [u8] {
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end).map(<[u8]>::to_vec)
    }
}

impl Source for File {
    fn bytes_at(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let mut buf = vec![0; usize::try_from(len).ok()?];
        self.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }
}

/// What the headers of an executable ELF file say.
#[derive(Debug, PartialEq, Eq)]
pub struct Elf {
    /// PT_INTERP's path (without its NUL), `None` when there is none: a static program.
    pub interp: Option<Vec<u8>>,
    /// A section or note only Go's linker writes.
    pub go: bool,
}

/// Reads fixed-width fields in the file's byte order.
struct Fields {
    big: bool,
}

impl Fields {
    fn u16(&self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
    fn u64(&self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }
    /// An address-sized field: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, wide: bool, b: &[u8], at: usize) -> Option<u64> {
        if wide {
            self.u64(b, at)
        } else {
            self.u32(b, at).map(u64::from)
        }
    }
}

/// Reads a table of `count` entries of `size` bytes at `offset`, within [`MAX_READ`].
fn table(src: &(impl Source + ?Sized), offset: u64, count: u16, size: u16) -> Option<Vec<u8>> {
    let len = u64::from(count) * u64::from(size);
    if len > MAX_READ {
        return None;
    }
    src.bytes_at(offset, len)
}

/// The headers of an ELF executable (ET_EXEC or ET_DYN, 32- or 64-bit, either byte order), or
/// `None` for anything else: not ELF, another ELF type, or headers that cannot be read.
pub fn parse(src: &(impl Source + ?Sized)) -> Option<Elf> {
    // The header's fields (the System V ABI, ELF header): ELF32 is 52 bytes, ELF64 64.
    let ident = src.bytes_at(0, 16)?;
    if ident[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let f = match ident[5] {
        1 => Fields { big: false },
        2 => Fields { big: true },
        _ => return None,
    };
    let h = src.bytes_at(0, if wide { 64 } else { 52 })?;
    let e_type = f.u16(&h, 16)?;
    if e_type != ET_EXEC && e_type != ET_DYN {
        return None;
    }
    let (phoff, shoff) = if wide {
        (f.u64(&h, 32)?, f.u64(&h, 40)?)
    } else {
        (u64::from(f.u32(&h, 28)?), u64::from(f.u32(&h, 32)?))
    };
    let at = if wide { 54 } else { 42 };
    let (phentsize, phnum) = (f.u16(&h, at)?, f.u16(&h, at + 2)?);
    let (shentsize, shnum, shstrndx) = (f.u16(&h, at + 4)?, f.u16(&h, at + 6)?, f.u16(&h, at + 8)?);

    // Program headers: p_type first; p_offset and p_filesz where the class puts them.
    let (ph_min, off_at, filesz_at) = if wide { (56, 8, 32) } else { (32, 4, 16) };
    // No program headers: the kernel will not load it (ENOEXEC), so exec says so.
    if phentsize < ph_min || phnum == 0 || phnum == 0xffff {
        return None;
    }
    let phdrs = table(src, phoff, phnum, phentsize)?;
    let mut interp = None;
    let mut go = false;
    let mut notes = 0;
    for ph in phdrs.chunks_exact(usize::from(phentsize)) {
        let p_type = f.u32(ph, 0)?;
        let offset = f.word(wide, ph, off_at)?;
        let filesz = f.word(wide, ph, filesz_at)?;
        if p_type == PT_INTERP && interp.is_none() {
            let mut path = src.bytes_at(offset, filesz.min(4096))?;
            if let Some(nul) = path.iter().position(|&b| b == 0) {
                path.truncate(nul);
            }
            interp = Some(path);
        } else if p_type == PT_NOTE && notes < MAX_NOTES && filesz <= MAX_READ {
            notes += 1;
            if let Some(body) = src.bytes_at(offset, filesz) {
                go |= has_go_note(&f, &body);
            }
        }
    }

    // Section names, from the section-name string table (e_shstrndx). A file without sections,
    // or with more than fit the header (e_shnum 0, the count in section 0), is judged on its
    // notes alone.
    if !go && shoff != 0 {
        go = section_names(src, &f, wide, shoff, shnum, shentsize, shstrndx)
            .is_some_and(|names| names.iter().any(|n| GO_SECTIONS.contains(&n.as_slice())));
    }
    Some(Elf { interp, go })
}

/// Every section's name, or `None` when the section headers or their names cannot be read.
fn section_names(
    src: &(impl Source + ?Sized),
    f: &Fields,
    wide: bool,
    shoff: u64,
    shnum: u16,
    shentsize: u16,
    shstrndx: u16,
) -> Option<Vec<Vec<u8>>> {
    // sh_name first; sh_offset and sh_size where the class puts them.
    let (sh_min, off_at, size_at) = if wide { (64, 24, 32) } else { (40, 16, 20) };
    if shentsize < sh_min || shstrndx >= shnum {
        return None;
    }
    let shdrs = table(src, shoff, shnum, shentsize)?;
    let entries: Vec<&[u8]> = shdrs.chunks_exact(usize::from(shentsize)).collect();
    let strtab = entries.get(usize::from(shstrndx))?;
    let size = f.word(wide, strtab, size_at)?;
    if size > MAX_READ {
        return None;
    }
    let strings = src.bytes_at(f.word(wide, strtab, off_at)?, size)?;
    let mut names = Vec::with_capacity(entries.len());
    for entry in entries {
        let start = usize::try_from(f.u32(entry, 0)?).ok()?;
        let name = strings.get(start..).unwrap_or_default();
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        names.push(name[..end].to_vec());
    }
    Some(names)
}

/// Whether a PT_NOTE segment's notes include Go's build ID: owner "Go", type 4. Each note is
/// namesz, descsz and type (4 bytes each, in ELF64 too), then the name and the descriptor, each
/// padded to 4 bytes.
fn has_go_note(f: &Fields, body: &[u8]) -> bool {
    let pad = |n: u32| (u64::from(n) + 3) & !3;
    let mut at: u64 = 0;
    while at + 12 <= body.len() as u64 {
        let i = at as usize;
        let (Some(namesz), Some(descsz), Some(kind)) =
            (f.u32(body, i), f.u32(body, i + 4), f.u32(body, i + 8))
        else {
            return false;
        };
        let name_at = i + 12;
        if kind == NT_GO_BUILDID && namesz == 3 && body.get(name_at..name_at + 3) == Some(b"Go\0") {
            return true;
        }
        at += 12 + pad(namesz) + pad(descsz);
    }
    false
}

/// What the preload makes of a program.
#[derive(Debug, PartialEq, Eq)]
pub enum Reach {
    /// Dynamically linked, or not something this check understands (exec judges it).
    Preloaded,
    /// No dynamic loader runs for it: LD_PRELOAD is never read.
    Static,
    /// Go's runtime makes its socket calls without libc.
    Go,
}

/// The verdict on one ELF file: a Go program, a static one, or one the loader runs. The dynamic
/// loader itself has no PT_INTERP but is no static program: run as `ld.so PROGRAM`, it reads
/// LD_PRELOAD as it would for PROGRAM; it is known as the PT_INTERP of this very program.
fn judge(path: &Path, elf: &Elf) -> Reach {
    if elf.go {
        return Reach::Go;
    }
    if elf.interp.is_some() {
        return Reach::Preloaded;
    }
    let loader = File::open("/proc/self/exe")
        .ok()
        .and_then(|f| parse(&f))
        .and_then(|own| own.interp)
        .map(|p| PathBuf::from(OsString::from_vec(p)));
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if loader.is_some_and(|l| same(path, &l)) {
        return Reach::Preloaded;
    }
    Reach::Static
}

/// The verdict on the file at `path`, and the file judged: `path` itself, or for a script the
/// interpreter its `#!` line names (one level: the kernel runs that file; an interpreter that is
/// itself a script passes).
pub fn inspect(path: &Path) -> (Reach, PathBuf) {
    let pass = (Reach::Preloaded, path.to_path_buf());
    let Some(file) = open_regular(path) else {
        return pass;
    };
    if let Some(elf) = parse(&file) {
        return (judge(path, &elf), path.to_path_buf());
    }
    let Some(interp) = shebang(&file) else {
        return pass;
    };
    match open_regular(&interp).and_then(|f| parse(&f)) {
        Some(elf) => (judge(&interp, &elf), interp),
        None => pass,
    }
}

/// The file at `path` open for reading, if it is a regular file (opening a FIFO would wait for a
/// writer; exec refuses anything but a regular file anyway).
fn open_regular(path: &Path) -> Option<File> {
    if !path.is_file() {
        return None;
    }
    File::open(path).ok()
}

/// The interpreter a `#!` line names, as the kernel reads it (binfmt_script: blanks after `#!`,
/// then the path up to a blank or the end of the line).
fn shebang(file: &File) -> Option<PathBuf> {
    let mut head = vec![0; SHEBANG_MAX];
    let n = file.read_at(&mut head, 0).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let name = line
        .split(|&b| b == b' ' || b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(OsString::from_vec(name.to_vec())))
}

/// The file exec would run for `program`, as execvp(3) finds it: a name with a `/` as it is;
/// otherwise the first regular, executable file of that name in the directories of PATH
/// (`/bin:/usr/bin` when PATH is unset; an empty entry is the current directory). `None` when
/// there is none: exec then says why.
pub fn resolve(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path).find_map(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        executable(&candidate).then_some(candidate)
    })
}

/// A regular file this user may execute (access(2) with X_OK, as execve checks it).
fn executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes fields in one byte order and class.
    struct Out {
        wide: bool,
        big: bool,
        bytes: Vec<u8>,
    }

    impl Out {
        fn n(&mut self, v: u64, size: usize) {
            let b = v.to_be_bytes();
            let b = &b[8 - size..];
            if self.big {
                self.bytes.extend_from_slice(b);
            } else {
                self.bytes.extend(b.iter().rev());
            }
        }
        fn u16(&mut self, v: u64) {
            self.n(v, 2)
        }
        fn u32(&mut self, v: u64) {
            self.n(v, 4)
        }
        fn word(&mut self, v: u64) {
            self.n(v, if self.wide { 8 } else { 4 })
        }
    }

    struct Spec<'a> {
        wide: bool,
        big: bool,
        interp: bool,
        sections: &'a [&'a str],
        go_note: bool,
    }

    const DYNAMIC: Spec = Spec {
        wide: true,
        big: false,
        interp: true,
        sections: &[".text", ".dynamic"],
        go_note: false,
    };

    /// A minimal executable: the ELF header, a PT_LOAD, PT_INTERP and PT_NOTE as asked, then the
    /// interpreter's path, the note, the section names and the section headers.
    fn elf(spec: &Spec) -> Vec<u8> {
        let (ehsize, phentsize, shentsize) = if spec.wide {
            (64, 56, 64)
        } else {
            (52, 32, 40)
        };
        let interp = b"/lib64/ld-linux-x86-64.so.2\0".to_vec();
        let mut note = Vec::new();
        for v in [3u32, 4, NT_GO_BUILDID] {
            note.extend(if spec.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        note.extend(b"Go\0\0abcd");
        let mut strtab = b"\0".to_vec();
        let mut name_at = Vec::new();
        for name in spec.sections.iter().chain([&".shstrtab"]) {
            name_at.push(strtab.len() as u64);
            strtab.extend(name.as_bytes());
            strtab.push(0);
        }
        let mut phdrs = vec![(1u32, 0u64, 0u64)];
        let phnum = 1 + spec.interp as u64 + spec.go_note as u64;
        let mut data_at = ehsize + phnum * phentsize;
        if spec.interp {
            phdrs.push((PT_INTERP, data_at, interp.len() as u64));
        }
        let interp_at = data_at;
        data_at += interp.len() as u64;
        if spec.go_note {
            phdrs.push((PT_NOTE, data_at, note.len() as u64));
        }
        let note_at = data_at;
        data_at += note.len() as u64;
        let strtab_at = data_at;
        let shoff = strtab_at + strtab.len() as u64;
        let shnum = spec.sections.len() as u64 + 2;

        let mut o = Out {
            wide: spec.wide,
            big: spec.big,
            bytes: Vec::new(),
        };
        o.bytes.extend(b"\x7fELF");
        o.bytes.extend([
            if spec.wide { 2 } else { 1 },
            if spec.big { 2 } else { 1 },
            1,
        ]);
        o.bytes.resize(16, 0);
        o.u16(3); // ET_DYN
        o.u16(62);
        o.u32(1);
        o.word(0x1000); // e_entry
        o.word(ehsize); // e_phoff
        o.word(shoff);
        o.u32(0);
        o.u16(ehsize);
        o.u16(phentsize);
        o.u16(phnum);
        o.u16(shentsize);
        o.u16(shnum);
        o.u16(shnum - 1);
        assert_eq!(o.bytes.len() as u64, ehsize);
        for (kind, offset, size) in phdrs {
            o.u32(kind as u64);
            if spec.wide {
                o.u32(4); // p_flags
            }
            o.word(offset);
            o.word(0);
            o.word(0);
            o.word(size);
            o.word(size);
            if !spec.wide {
                o.u32(4);
            }
            o.word(1);
        }
        assert_eq!(o.bytes.len() as u64, interp_at);
        if spec.interp {
            o.bytes.extend(&interp);
        }
        o.bytes.resize(note_at as usize, 0);
        if spec.go_note {
            o.bytes.extend(&note);
        }
        o.bytes.resize(strtab_at as usize, 0);
        o.bytes.extend(&strtab);
        o.bytes.resize((shoff + shentsize) as usize, 0); // section 0: all zero
        for (i, at) in name_at.iter().enumerate() {
            let last = i == name_at.len() - 1;
            o.u32(*at);
            o.u32(if last { 3 } else { 1 });
            o.word(0);
            o.word(0);
            o.word(if last { strtab_at } else { 0 });
            o.word(if last { strtab.len() as u64 } else { 0 });
            o.u32(0);
            o.u32(0);
            o.word(1);
            o.word(0);
        }
        assert_eq!(o.bytes.len() as u64, shoff + shnum * shentsize);
        o.bytes
    }

    fn parsed(spec: &Spec) -> Option<Elf> {
        parse(elf(spec).as_slice())
    }

    #[test]
    fn dynamic_has_its_interpreter() {
        let e = parsed(&DYNAMIC).unwrap();
        assert_eq!(
            e.interp.as_deref(),
            Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
        );
        assert!(!e.go);
    }

    #[test]
    fn static_has_none() {
        let e = parsed(&Spec {
            interp: false,
            ..DYNAMIC
        })
        .unwrap();
        assert_eq!(
            e,
            Elf {
                interp: None,
                go: false
            }
        );
        assert_eq!(judge(Path::new("/nonexistent/static"), &e), Reach::Static);
    }

    #[test]
    fn go_by_section_or_note() {
        for sections in [&[".text", ".note.go.buildid"][..], &[".go.buildinfo"]] {
            let e = parsed(&Spec {
                sections,
                ..DYNAMIC
            })
            .unwrap();
            assert!(e.go, "{sections:?}");
            assert!(e.interp.is_some());
            assert_eq!(judge(Path::new("x"), &e), Reach::Go);
        }
        // Stripped of its section headers, the note still says it.
        let mut bytes = elf(&Spec {
            go_note: true,
            sections: &[],
            ..DYNAMIC
        });
        bytes[40..48].fill(0); // e_shoff
        assert!(parse(bytes.as_slice()).unwrap().go);
        // A name that only starts alike is not Go's.
        assert!(
            !parsed(&Spec {
                sections: &[".note.go"],
                ..DYNAMIC
            })
            .unwrap()
            .go
        );
    }

    #[test]
    fn thirty_two_bit_and_big_endian() {
        for (wide, big) in [(false, false), (false, true), (true, true)] {
            let base = Spec {
                wide,
                big,
                ..DYNAMIC
            };
            assert!(parsed(&base).unwrap().interp.is_some(), "{wide} {big}");
            assert!(parsed(&Spec {
                interp: false,
                ..base
            })
            .unwrap()
            .interp
            .is_none());
            let go = Spec {
                wide,
                big,
                sections: &[".note.go.buildid"],
                ..DYNAMIC
            };
            assert!(parsed(&go).unwrap().go);
            let note = Spec {
                wide,
                big,
                go_note: true,
                ..DYNAMIC
            };
            assert!(parsed(&note).unwrap().go);
        }
    }

    #[test]
    fn not_elf_or_not_an_executable() {
        assert_eq!(parse(&b"#!/bin/sh\necho hi\n"[..]), None);
        assert_eq!(parse(&b""[..]), None);
        let mut object = elf(&DYNAMIC);
        object[16] = 1; // ET_REL
        assert_eq!(parse(object.as_slice()), None);
    }

    #[test]
    fn truncated_or_garbage_never_panics() {
        for spec in [
            DYNAMIC,
            Spec {
                interp: false,
                ..DYNAMIC
            },
            Spec {
                wide: false,
                go_note: true,
                ..DYNAMIC
            },
        ] {
            let whole = elf(&spec);
            for len in 0..whole.len() {
                let _ = parse(&whole[..len]);
            }
            // Every byte of the headers flipped in turn, and set to 0xff.
            for i in 0..whole.len() {
                for v in [whole[i] ^ 0x80, 0xff, 0] {
                    let mut b = whole.clone();
                    b[i] = v;
                    let _ = parse(b.as_slice());
                }
            }
        }
        // A pseudo-random tail after a valid ident.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut b = b"\x7fELF\x02\x01\x01".to_vec();
            for _ in 0..200 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b.push((x >> 16) as u8);
            }
            let _ = parse(b.as_slice());
        }
    }

    #[test]
    fn huge_tables_are_not_read() {
        let mut b = elf(&DYNAMIC);
        b[56..58].copy_from_slice(&0xfff0u16.to_le_bytes()); // e_phnum
        b[54..56].copy_from_slice(&0xfff0u16.to_le_bytes()); // e_phentsize
        assert_eq!(parse(b.as_slice()), None);
    }

    #[test]
    fn shebang_names_the_interpreter() {
        let dir = std::env::temp_dir().join(format!("tapstack-reach-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s");
        for (text, want) in [
            (&b"#!/bin/sh\n"[..], Some("/bin/sh")),
            (
                b"#! \t/usr/bin/env python3 -u\nprint()\n",
                Some("/usr/bin/env"),
            ),
            (b"#!", None),
            (b"echo hi\n", None),
        ] {
            std::fs::write(&script, text).unwrap();
            let got = shebang(&File::open(&script).unwrap());
            assert_eq!(got.as_deref(), want.map(Path::new));
        }
        // A script whose interpreter is missing or a script passes.
        std::fs::write(&script, "#!/nonexistent/sh\n").unwrap();
        assert_eq!(inspect(&script).0, Reach::Preloaded);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_test_program_is_dynamic() {
        let own = parse(&File::open("/proc/self/exe").unwrap()).unwrap();
        assert!(own.interp.is_some_and(|p| p.starts_with(b"/")));
        assert!(!own.go);
        assert_eq!(inspect(Path::new("/proc/self/exe")).0, Reach::Preloaded);
    }

    #[test]
    fn the_loader_run_directly_is_not_static() {
        // ld.so has no PT_INTERP, yet `ld.so PROGRAM` reads LD_PRELOAD.
        let own = parse(&File::open("/proc/self/exe").unwrap()).unwrap();
        let loader = PathBuf::from(OsString::from_vec(own.interp.unwrap()));
        let elf = parse(&File::open(&loader).unwrap()).unwrap();
        assert_eq!(elf.interp, None);
        assert_eq!(judge(&loader, &elf), Reach::Preloaded);
        assert_eq!(inspect(&loader).0, Reach::Preloaded);
    }

    #[test]
    fn resolve_as_execvp() {
        assert_eq!(resolve("./x"), Some(PathBuf::from("./x")));
        assert_eq!(resolve(""), None);
        assert_eq!(resolve("tapstack-no-such-program"), None);
        // `sh` is somewhere on every PATH the tests run with.
        assert!(resolve("sh").is_some_and(|p| p.is_absolute() || p.starts_with(".")));
    }
}
