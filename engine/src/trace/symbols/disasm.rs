//! `take_gil`/`drop_gil` in stripped x86-64 code, found from the exported
//! C API — never guessed: a wrong uprobe can corrupt the traced program,
//! so every answer must pass all of these, else the build is refused.
//!
//! * **What only they do.** Across CPython 3.6–3.13 (pyenv's builds and
//!   Debian's 3.11 here) `take_gil` is the only code that calls
//!   `pthread_cond_timedwait` (its wait for the GIL, bounded by the switch
//!   interval); `drop_gil` calls `pthread_cond_wait` (the forced-switch
//!   wait), which otherwise only appears where `drop_gil` was inlined.
//!   Calls are resolved through the PLT and the GOT's relocations.
//! * **Function entries.** The function holding such a call is found as the
//!   nearest function entry at or below it — an exported function or the
//!   target of some `call` in `.text` — and its code (followed through its
//!   branches, tail calls excepted, so split-off `.cold` parts count as its
//!   own) must contain that call, return (`ret`, or a tail call), and, for `take_gil`, call
//!   `pthread_mutex_lock`. It must not be exported (both are `static`): an
//!   exported owner means the function was inlined into the C API.
//!   `drop_gil` must call `pthread_cond_signal` and `pthread_mutex_unlock`,
//!   must not call `take_gil` or `pthread_cond_timedwait`, and may call
//!   nothing named beyond the pthread calls, the thread id and the fatal
//!   error paths — a function with `drop_gil` inlined into it (Debian's
//!   `os_stat`) calls much more.
//! * **Reached from the C API.** Each copy must be reached by direct calls
//!   or tail jumps within three steps from `PyEval_RestoreThread`,
//!   `PyEval_AcquireThread`, `PyEval_AcquireLock` (for `take_gil`; 3.13 goes
//!   through `_PyThreadState_Attach` and `_PyEval_AcquireLock`) or from
//!   `PyEval_SaveThread`, `PyEval_ReleaseThread`, `PyEval_ReleaseLock` and
//!   `take_gil` itself (for `drop_gil`), or within two from the eval loop
//!   (`_PyEval_EvalFrameDefault`, whose pending-call handler drops and
//!   takes the GIL, in 3.8 through a second copy of `take_gil`), and
//!   `PyEval_RestoreThread` must reach a `take_gil`.
//! * **All copies.** Every `pthread_cond_timedwait` call must lie in a
//!   found `take_gil`; a `pthread_cond_wait` outside a found `drop_gil`
//!   must be in a function that is plainly not a copy of it — inlined into
//!   the exported C API, into a bigger function, or into one no `call`
//!   names (called through a pointer, as Debian's `os_stat` from its
//!   method table: a copy of `drop_gil` is called directly, so its entry
//!   is known) — else refused, as a copy the probes would miss.
//!
//! Releases inside functions `drop_gil` was inlined into are invisible to
//! a `drop_gil` probe whichever way it was found (with a symbol table too).

use std::collections::{BTreeSet, HashMap, HashSet};

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};
use object::read::elf::ElfFile64;
use object::{
    Architecture, Endianness, Object, ObjectSection, ObjectSymbol, ObjectSymbolTable,
    RelocationFlags, RelocationTarget, SectionFlags, SymbolKind,
};

/// Instructions followed in one function before giving up on it.
const BODY_LIMIT: usize = 200_000;

/// Functions that never return: code after a call to one is not followed.
const NORETURN: &[&str] = &[
    "abort",
    "exit",
    "_exit",
    "__stack_chk_fail",
    "__assert_fail",
    "__fortify_fail",
    "__chk_fail",
    "pthread_exit",
    "longjmp",
    "siglongjmp",
    "__longjmp_chk",
    "Py_FatalError",
    "_Py_FatalErrorFunc",
    "_Py_FatalErrorFormat",
    "_Py_FatalRefcountError",
    "Py_Exit",
    "PyThread_exit_thread",
    "_PyObject_AssertFailed",
];

/// What `drop_gil` may call by name (anything else named: not `drop_gil`).
const DROP_MAY_CALL: &[&str] = &[
    "pthread_mutex_lock",
    "pthread_mutex_unlock",
    "pthread_cond_signal",
    "pthread_cond_wait",
    "PyThread_get_thread_ident",
    "__errno_location",
    "Py_FatalError",
    "_Py_FatalErrorFunc",
    "_Py_FatalErrorFormat",
    "abort",
    "__stack_chk_fail",
    "__assert_fail",
];

/// Where `take_gil` is looked for from, and how many calls deep.
const TAKE_ROUTES: &[(&str, u32)] = &[
    ("PyEval_RestoreThread", 3),
    ("PyEval_AcquireThread", 3),
    ("PyEval_AcquireLock", 3),
    ("PyEval_InitThreads", 1),
    ("_PyEval_EvalFrameDefault", 2),
];

/// Where `drop_gil` is looked for from (and each `take_gil`, one deep).
const DROP_ROUTES: &[(&str, u32)] = &[
    ("PyEval_SaveThread", 3),
    ("PyEval_ReleaseThread", 3),
    ("PyEval_ReleaseLock", 3),
    ("_PyEval_EvalFrameDefault", 2),
];

/// The virtual addresses of every `take_gil` and `drop_gil` copy of an
/// x86-64 `file`, or why they cannot be told for sure (one clause).
pub(super) fn find(file: &ElfFile64<Endianness>) -> Result<(Vec<u64>, Vec<u64>), String> {
    if file.architecture() != Architecture::X86_64 {
        return Err(format!(
            "reads x86-64 code only, this file is {:?}",
            file.architecture()
        ));
    }
    let program = Program::new(file)?;
    if program.export("PyEval_RestoreThread").is_none() {
        return Err("PyEval_RestoreThread is not exported".into());
    }
    let take = program.take_gil()?;
    let drop = program.drop_gil(&take)?;
    Ok((take.into_iter().collect(), drop.into_iter().collect()))
}

/// The exported functions that release the GIL whatever happens and into
/// which `drop_gil` was inlined: a probe on `drop_gil` misses their
/// releases, a `drop_gil` probe on their entry catches them.
const RELEASERS: &[&str] = &[
    "PyEval_SaveThread",
    "PyEval_ReleaseThread",
    "PyEval_ReleaseLock",
];

/// Virtual addresses of the [`RELEASERS`] that have `drop_gil` inlined
/// (their own code calls `pthread_cond_wait`): Debian's 3.11 inlines it
/// into `PyEval_SaveThread`, pyenv's 3.13 into `PyEval_ReleaseLock`.
pub(super) fn inlined_releasers(file: &ElfFile64<Endianness>) -> Vec<u64> {
    if file.architecture() != Architecture::X86_64 {
        return Vec::new();
    }
    let Ok(program) = Program::new(file) else {
        return Vec::new();
    };
    let mut found: Vec<u64> = RELEASERS
        .iter()
        .filter_map(|name| program.export(name))
        .filter(|&entry| {
            let body = program.body(entry);
            program
                .site_list("pthread_cond_wait")
                .iter()
                .any(|site| program.owner(*site) == Some(entry) && body.code.contains(site))
        })
        .collect();
    found.sort_unstable();
    found
}

/// Who a call or jump goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Callee<'a> {
    /// Its address in this file, when it is code here (a PLT stub of an
    /// export of this same file resolves to that export).
    addr: Option<u64>,
    /// Its name, when imported or exported.
    name: Option<&'a str>,
}

/// One function's code as followed from its entry.
#[derive(Debug, Default)]
struct Body<'a> {
    /// Addresses of its instructions.
    code: HashSet<u64>,
    /// Calls and tail jumps out of it: (site, callee).
    calls: Vec<(u64, Callee<'a>)>,
    /// It returns to its caller: a `ret`, or a tail call (a `jmp` to
    /// another function, which returns there).
    returns: bool,
    /// Followed past [`BODY_LIMIT`], or into bytes that do not decode.
    truncated: bool,
}

impl Body<'_> {
    fn calls_named(&self, name: &str) -> bool {
        self.calls.iter().any(|(_, c)| c.name == Some(name))
    }
}

/// The decoded view of a file's code.
struct Program<'a> {
    /// Executable sections: (address, bytes).
    code: Vec<(u64, &'a [u8])>,
    /// PLT stub address → imported (or interposable exported) name.
    stubs: HashMap<u64, &'a str>,
    /// GOT slot → the symbol it is relocated to.
    got: HashMap<u64, &'a str>,
    /// Exported function address → name, and back.
    exports: HashMap<u64, &'a str>,
    by_name: HashMap<&'a str, u64>,
    /// Function entries: exports and every `call` target in the code.
    entries: BTreeSet<u64>,
    /// Call sites of the imports that mark the GIL functions.
    sites: HashMap<&'a str, Vec<u64>>,
    bodies: std::cell::RefCell<HashMap<u64, std::rc::Rc<Body<'a>>>>,
}

/// The imports whose call sites are collected.
const MARKS: &[&str] = &["pthread_cond_timedwait", "pthread_cond_wait"];

impl<'a> Program<'a> {
    fn new(file: &ElfFile64<'a, Endianness>) -> Result<Self, String> {
        let mut program = Program {
            code: Vec::new(),
            stubs: HashMap::new(),
            got: HashMap::new(),
            exports: HashMap::new(),
            by_name: HashMap::new(),
            entries: BTreeSet::new(),
            sites: HashMap::new(),
            bodies: Default::default(),
        };
        let mut plt = Vec::new();
        for section in file.sections() {
            let SectionFlags::Elf { sh_flags } = section.flags() else {
                continue;
            };
            if sh_flags & u64::from(object::elf::SHF_EXECINSTR) == 0 {
                continue;
            }
            let Ok(data) = section.data() else { continue };
            if data.is_empty() {
                continue;
            }
            let name = section.name().unwrap_or("");
            if name.starts_with(".plt") {
                plt.push((section.address(), data));
            }
            program.code.push((section.address(), data));
        }
        if program.code.is_empty() {
            return Err("no code".into());
        }
        program.read_symbols(file);
        for &(address, data) in &plt {
            program.read_plt(address, data);
        }
        program.sweep(&plt);
        Ok(program)
    }

    /// Exports from `.dynsym`, GOT slots from the dynamic relocations.
    fn read_symbols(&mut self, file: &ElfFile64<'a, Endianness>) {
        for symbol in file.dynamic_symbols() {
            if symbol.kind() == SymbolKind::Text
                && symbol.is_definition()
                && symbol.address() != 0
                && let Ok(name) = symbol.name()
            {
                self.exports.entry(symbol.address()).or_insert(name);
                self.by_name.entry(name).or_insert(symbol.address());
                self.entries.insert(symbol.address());
            }
        }
        let (Some(relocations), Some(table)) =
            (file.dynamic_relocations(), file.dynamic_symbol_table())
        else {
            return;
        };
        for (slot, relocation) in relocations {
            let RelocationFlags::Elf { r_type } = relocation.flags() else {
                continue;
            };
            if !matches!(
                r_type,
                object::elf::R_X86_64_JUMP_SLOT | object::elf::R_X86_64_GLOB_DAT
            ) {
                continue;
            }
            if let RelocationTarget::Symbol(index) = relocation.target()
                && let Ok(symbol) = table.symbol_by_index(index)
                && let Ok(name) = symbol.name()
            {
                self.got.insert(slot, name);
            }
        }
    }

    /// PLT stubs: each is `jmp *slot(%rip)`, maybe after `endbr64`; a
    /// call goes to the stub's first instruction.
    fn read_plt(&mut self, address: u64, data: &'a [u8]) {
        let mut decoder = Decoder::with_ip(64, data, address, DecoderOptions::NONE);
        let mut previous: Option<Instruction> = None;
        while decoder.can_decode() {
            let insn = decoder.decode();
            if kind(&insn) == Kind::JmpIndirect
                && insn.is_ip_rel_memory_operand()
                && let Some(&name) = self.got.get(&insn.ip_rel_memory_address())
            {
                self.stubs.insert(insn.ip(), name);
                if let Some(endbr) = previous.filter(|p| p.mnemonic() == Mnemonic::Endbr64) {
                    self.stubs.insert(endbr.ip(), name);
                }
            }
            previous = Some(insn);
        }
    }

    /// One linear pass over the code: every `call` target is a function
    /// entry; calls of the marking imports are noted.
    fn sweep(&mut self, plt: &[(u64, &'a [u8])]) {
        let mut entries = Vec::new();
        let mut sites: Vec<(&'a str, u64)> = Vec::new();
        for &(address, data) in &self.code {
            if plt.iter().any(|&(start, _)| start == address) {
                continue;
            }
            let mut decoder = Decoder::with_ip(64, data, address, DecoderOptions::NONE);
            for insn in &mut decoder {
                let k = kind(&insn);
                if matches!(k, Kind::Call | Kind::CallIndirect | Kind::JmpIndirect) {
                    if k == Kind::Call && !self.stubs.contains_key(&insn.near_branch_target()) {
                        entries.push(insn.near_branch_target());
                    }
                    if let Some(name) = self.resolve(&insn).name
                        && MARKS.contains(&name)
                    {
                        sites.push((name, insn.ip()));
                    }
                } else if k == Kind::Jmp
                    && let Some(&name) = self.stubs.get(&insn.near_branch_target())
                    && MARKS.contains(&name)
                {
                    sites.push((name, insn.ip()));
                }
            }
        }
        let entries: Vec<u64> = entries.into_iter().filter(|&a| self.is_code(a)).collect();
        self.entries.extend(entries);
        for (name, site) in sites {
            self.sites.entry(name).or_default().push(site);
        }
    }

    fn is_code(&self, addr: u64) -> bool {
        self.code
            .iter()
            .any(|&(start, data)| addr >= start && addr < start + data.len() as u64)
    }

    fn bytes_at(&self, addr: u64) -> Option<&'a [u8]> {
        self.code.iter().find_map(|&(start, data)| {
            (addr >= start && addr < start + data.len() as u64)
                .then(|| &data[(addr - start) as usize..])
        })
    }

    fn export(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    /// The callee of a call or jump instruction.
    fn resolve(&self, insn: &Instruction) -> Callee<'a> {
        let named = |name: &'a str| Callee {
            addr: self.by_name.get(name).copied(),
            name: Some(name),
        };
        if insn.op0_kind() == OpKind::NearBranch64 {
            let target = insn.near_branch_target();
            if let Some(&name) = self.stubs.get(&target) {
                return named(name);
            }
            return Callee {
                addr: Some(target),
                name: self.exports.get(&target).copied(),
            };
        }
        if insn.is_ip_rel_memory_operand()
            && let Some(&name) = self.got.get(&insn.ip_rel_memory_address())
        {
            return named(name);
        }
        Callee {
            addr: None,
            name: None,
        }
    }

    /// The function entry at or below `addr`.
    fn owner(&self, addr: u64) -> Option<u64> {
        self.entries.range(..=addr).next_back().copied()
    }

    /// `entry`'s code followed through its branches (cached).
    fn body(&self, entry: u64) -> std::rc::Rc<Body<'a>> {
        if let Some(body) = self.bodies.borrow().get(&entry) {
            return body.clone();
        }
        let body = std::rc::Rc::new(self.follow(entry));
        self.bodies.borrow_mut().insert(entry, body.clone());
        body
    }

    fn follow(&self, entry: u64) -> Body<'a> {
        let mut body = Body::default();
        let mut pending = vec![entry];
        while let Some(mut ip) = pending.pop() {
            loop {
                if body.code.len() >= BODY_LIMIT {
                    body.truncated = true;
                    return body;
                }
                if !body.code.insert(ip) {
                    break;
                }
                let Some(bytes) = self.bytes_at(ip) else {
                    body.truncated = true;
                    break;
                };
                let mut decoder = Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE);
                let insn = decoder.decode();
                if insn.is_invalid() {
                    body.truncated = true;
                    break;
                }
                let next = insn.next_ip();
                match self.step(&insn, entry, &mut body) {
                    Step::Next => {}
                    Step::Stop => break,
                    Step::Jump(target) => {
                        ip = target;
                        continue;
                    }
                    Step::Branch(target) => pending.push(target),
                }
                // Running into the next function: this one ended.
                if next != entry && self.entries.contains(&next) {
                    break;
                }
                ip = next;
            }
        }
        body
    }

    /// What one instruction does to the walk through a function.
    fn step(&self, insn: &Instruction, entry: u64, body: &mut Body<'a>) -> Step {
        let k = kind(insn);
        match insn.mnemonic() {
            Mnemonic::Ret => {
                body.returns = true;
                return Step::Stop;
            }
            Mnemonic::Int3 | Mnemonic::Ud2 | Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Hlt => {
                return Step::Stop;
            }
            _ => {}
        }
        if matches!(k, Kind::Call | Kind::CallIndirect) {
            let callee = self.resolve(insn);
            body.calls.push((insn.ip(), callee));
            let noreturn = callee.name.is_some_and(|n| NORETURN.contains(&n));
            return if noreturn { Step::Stop } else { Step::Next };
        }
        if k == Kind::JmpIndirect {
            // A tail call through the GOT, or a switch's jump table (not
            // followed: such a function is reported truncated).
            let callee = self.resolve(insn);
            if callee.name.is_some() {
                body.calls.push((insn.ip(), callee));
                body.returns = true;
            } else {
                body.truncated = true;
            }
            return Step::Stop;
        }
        if k == Kind::Jmp {
            let target = insn.near_branch_target();
            let elsewhere = target != entry
                && (self.entries.contains(&target) || self.stubs.contains_key(&target));
            if elsewhere {
                // A tail call: the callee returns to this one's caller.
                body.calls.push((insn.ip(), self.resolve(insn)));
                body.returns = true;
                return Step::Stop;
            }
            return Step::Jump(target);
        }
        if k == Kind::Branch {
            // jcc, loop, jrcxz: both ways.
            return Step::Branch(insn.near_branch_target());
        }
        if k == Kind::Far {
            body.truncated = true;
            return Step::Stop;
        }
        Step::Next
    }

    /// The functions reached from `routes` (export, depth), plus `extra`
    /// starts at depth one, by direct calls and tail jumps.
    fn reached(&self, routes: &[(&str, u32)], extra: &BTreeSet<u64>) -> HashSet<u64> {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut queue: Vec<(u64, u32)> = routes
            .iter()
            .filter_map(|&(name, depth)| Some((self.export(name)?, depth)))
            .chain(extra.iter().map(|&a| (a, 1)))
            .collect();
        while let Some((addr, depth)) = queue.pop() {
            if seen.get(&addr).is_some_and(|&d| d >= depth) {
                continue;
            }
            seen.insert(addr, depth);
            if depth == 0 {
                continue;
            }
            for (_, callee) in &self.body(addr).calls {
                if let Some(target) = callee.addr
                    && self.is_code(target)
                {
                    queue.push((target, depth - 1));
                }
            }
        }
        seen.into_keys().collect()
    }

    fn site_list(&self, name: &str) -> &[u64] {
        self.sites.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every copy of `take_gil`: the owners of the `pthread_cond_timedwait`
    /// calls, each checked.
    fn take_gil(&self) -> Result<BTreeSet<u64>, String> {
        let sites = self.site_list("pthread_cond_timedwait");
        if sites.is_empty() {
            return Err("no call of pthread_cond_timedwait, so no take_gil to recognise".into());
        }
        let mut take = BTreeSet::new();
        for &site in sites {
            let owner = self
                .owner(site)
                .ok_or("a condition wait outside any function")?;
            if let Some(name) = self.exports.get(&owner) {
                return Err(format!("take_gil is inlined into the exported {name}"));
            }
            let body = self.body(owner);
            let fits = !body.truncated
                && body.returns
                && body.code.contains(&site)
                && body.calls_named("pthread_mutex_lock");
            if !fits {
                return Err(format!(
                    "the pthread_cond_timedwait call at {site:#x} is not in a function shaped like take_gil"
                ));
            }
            take.insert(owner);
        }
        let from_restore = self.reached(&TAKE_ROUTES[..1], &BTreeSet::new());
        if !take.iter().any(|t| from_restore.contains(t)) {
            return Err("PyEval_RestoreThread does not lead to take_gil".into());
        }
        let reached = self.reached(TAKE_ROUTES, &BTreeSet::new());
        if let Some(missed) = take.iter().find(|t| !reached.contains(t)) {
            return Err(format!(
                "a take_gil-shaped function at {missed:#x} is not called from the C API's GIL functions"
            ));
        }
        Ok(take)
    }

    /// Whether the function at `entry` is shaped like `drop_gil`.
    fn drop_shaped(&self, entry: u64, take: &BTreeSet<u64>) -> bool {
        let body = self.body(entry);
        !body.truncated
            && body.returns
            && body.calls_named("pthread_cond_signal")
            && body.calls_named("pthread_mutex_unlock")
            && body.calls_named("pthread_cond_wait")
            && body.calls.iter().all(|(_, callee)| {
                callee.addr.is_none_or(|a| !take.contains(&a))
                    && callee.name.is_none_or(|n| DROP_MAY_CALL.contains(&n))
            })
    }

    /// Every copy of `drop_gil`: the owners of the `pthread_cond_wait`
    /// calls that are shaped like it and reached from the C API.
    fn drop_gil(&self, take: &BTreeSet<u64>) -> Result<BTreeSet<u64>, String> {
        let reached = self.reached(DROP_ROUTES, take);
        let mut drop = BTreeSet::new();
        let mut inlined = BTreeSet::new();
        let mut unattributed = 0;
        for &site in self.site_list("pthread_cond_wait") {
            let Some(owner) = self
                .owner(site)
                .filter(|&o| self.body(o).code.contains(&site))
            else {
                // In a function no `call` names: one called only through a
                // pointer (Debian's `os_stat`, from its method table) with
                // drop_gil inlined. A copy of drop_gil itself is called
                // directly, so its entry is known and owns its hot code.
                unattributed += 1;
                continue;
            };
            let shaped = !self.exports.contains_key(&owner) && self.drop_shaped(owner, take);
            match (shaped, reached.contains(&owner)) {
                (true, true) => {
                    drop.insert(owner);
                }
                (true, false) => {
                    return Err(format!(
                        "a drop_gil-shaped function at {owner:#x} is not called from the C API's GIL functions"
                    ));
                }
                // drop_gil inlined into a bigger function: no entry of its own.
                (false, _) => {
                    inlined.insert(owner);
                }
            }
        }
        if drop.is_empty() {
            return Err(format!(
                "no function shaped like drop_gil (inlined into {} functions?)",
                inlined.len() + unattributed
            ));
        }
        Ok(drop)
    }
}

/// How a walk goes on after one instruction.
enum Step {
    /// To the next instruction.
    Next,
    /// This path ends.
    Stop,
    /// Only to `target` (an unconditional jump).
    Jump(u64),
    /// To the next instruction and to `target`.
    Branch(u64),
}

/// The control-flow kind of an instruction (iced's own table needs its
/// `instr_info` feature, which this decoder-only build leaves out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `call rel32`.
    Call,
    /// `call` through a register or memory.
    CallIndirect,
    /// `jmp rel8/rel32`.
    Jmp,
    /// `jmp` through a register or memory.
    JmpIndirect,
    /// A conditional branch (jcc, loop, jrcxz).
    Branch,
    /// A far call or jump (never in this code: stops the walk).
    Far,
    /// Anything else.
    Other,
}

fn kind(insn: &Instruction) -> Kind {
    let op = insn.op0_kind();
    let near = op == OpKind::NearBranch64;
    let indirect = matches!(op, OpKind::Register | OpKind::Memory);
    match insn.mnemonic() {
        Mnemonic::Call if near => Kind::Call,
        Mnemonic::Call if indirect => Kind::CallIndirect,
        Mnemonic::Jmp if near => Kind::Jmp,
        Mnemonic::Jmp if indirect => Kind::JmpIndirect,
        Mnemonic::Call | Mnemonic::Jmp => Kind::Far,
        _ if near => Kind::Branch,
        _ => Kind::Other,
    }
}
