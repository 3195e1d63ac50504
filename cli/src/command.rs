//! The command to run, checked before the host listens, so that a typo or a file that cannot
//! run is an error now, not a failed invocation later; and what its arguments say of the
//! handler.

use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The command as it will be run: a path, or a name looked up in `PATH`; refused when it is
/// not there, not executable, or a script whose interpreter is missing.
pub(crate) fn find(program: &OsString) -> Result<PathBuf, String> {
    let path = Path::new(program);
    if path.components().count() > 1 || path.is_absolute() {
        if !path.is_file() {
            return Err(format!(
                "cannot find {}: no such file (build it first, e.g. `cargo build --release`)",
                path.display()
            ));
        }
        runnable(path)?;
        return Ok(path.to_path_buf());
    }
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(path))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    // As the system looks a name up: the first executable file of that name.
    if let Some(found) = in_path.iter().find(|p| executable(p)) {
        runnable(found)?;
        // Run by name, so that the process sees its name as the user typed it.
        return Ok(path.to_path_buf());
    }
    if let Some(found) = in_path.first() {
        return runnable(found).map(|()| path.to_path_buf());
    }
    if path.is_file() {
        Err(format!(
            "{} is not in PATH: to run the file in this directory, say ./{}",
            path.display(),
            path.display()
        ))
    } else {
        Err(format!("cannot find {} in PATH", path.display()))
    }
}

fn executable(file: &Path) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Whether the system can run `file`: executable, and if a script, its interpreter there.
fn runnable(file: &Path) -> Result<(), String> {
    let shown = file.display();
    if !executable(file) {
        return Err(format!(
            "{shown} is not executable: Lambda runs the command as a program; make it one \
             with `chmod +x {shown}`, or name its interpreter first (`-- python3 {shown}`)"
        ));
    }
    let Some(interpreter) = shebang(file) else {
        return Ok(());
    };
    let mut words = interpreter.split_whitespace();
    let Some(first) = words.next() else {
        return Err(format!("{shown} starts with `#!` but names no interpreter"));
    };
    let missing = if first.ends_with("/env") {
        // `#!/usr/bin/env python3`: the program env looks for in PATH.
        let wanted = words.find(|w| !w.starts_with('-'));
        wanted.filter(|w| !in_path(w))
    } else {
        Some(first).filter(|p| !executable(Path::new(p)))
    };
    match missing {
        Some(missing) => Err(format!(
            "{shown} cannot run: its first line asks for {missing}, which is not here; \
             install it, or name an interpreter that is (`-- python3 {shown}`)"
        )),
        None => Ok(()),
    }
}

/// What follows `#!` on a script's first line.
fn shebang(file: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(file).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    Some(String::from_utf8_lossy(line).trim().to_owned())
}

fn in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(name))))
}

/// The handler a runtime interface client is given as its argument (`aws-lambda-ric
/// app.handler`, `python3 -m awslambdaric app.handler`): the last argument when it reads as
/// `module.function` and is no file. It is `_HANDLER` unless `--handler` says otherwise, as
/// on Lambda, where the two are the same setting.
pub(crate) fn handler_in(args: &[OsString]) -> Option<String> {
    let last = args.last()?.to_str()?;
    let (module, function) = last.rsplit_once('.')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-' | '/'))
    };
    let handler = !last.starts_with('-')
        && word(module)
        && word(function)
        && !function.contains('/')
        && !Path::new(last).exists();
    handler.then(|| last.to_owned())
}

/// The layers given (`--layer`), each a directory laid out as Lambda unpacks a layer under
/// `/opt`: `extensions/`, `bin/`, and files such as a `bootstrap`.
pub(crate) struct Layers(Vec<PathBuf>);

impl Layers {
    pub(crate) fn new(dirs: &[PathBuf]) -> Result<Layers, String> {
        if let Some(dir) = dirs.iter().find(|d| !d.is_dir()) {
            return Err(format!(
                "the layer {} is not a directory: give the directory the layer unpacks to \
                 (its extensions/, bin/, ...), as Lambda unpacks it under /opt",
                dir.display()
            ));
        }
        Ok(Layers(dirs.to_vec()))
    }

    /// `/opt/...` as the first layer that has it; any other path as it is.
    pub(crate) fn opt(&self, path: &OsString) -> OsString {
        let Ok(rest) = Path::new(path).strip_prefix("/opt") else {
            return path.clone();
        };
        let found = self.0.iter().map(|dir| dir.join(rest));
        found
            .into_iter()
            .find(|p| p.exists())
            .map_or_else(|| path.clone(), PathBuf::into_os_string)
    }

    /// The external extensions: the programs in each of `dirs`, then in each layer's
    /// `extensions/`, by name within each; refused when one cannot run.
    pub(crate) fn extensions(&self, dirs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
        let in_layers = self.0.iter().map(|d| d.join("extensions"));
        let mut programs = Vec::new();
        for (dir, given) in dirs
            .iter()
            .cloned()
            .map(|d| (d, true))
            .chain(in_layers.map(|d| (d, false)))
        {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(_) if !given => continue,
                Err(e) => {
                    return Err(format!(
                        "cannot read the extensions in {}: {e}",
                        dir.display()
                    ))
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for file in &files {
                runnable(file).map_err(|e| format!("the extension {e}"))?;
            }
            programs.extend(files);
        }
        Ok(programs)
    }

    /// What the layers give the function's environment: `PATH` with each layer's `bin/`
    /// first, as Lambda's has `/opt/bin`; and `AWS_LAMBDA_EXEC_WRAPPER` (`wrapper`) with
    /// `/opt/...` in the layers, checked to run.
    pub(crate) fn envs(
        &self,
        wrapper: Option<OsString>,
    ) -> Result<Vec<(OsString, OsString)>, String> {
        let mut envs = Vec::new();
        if !self.0.is_empty() {
            let bins = self.0.iter().map(|d| d.join("bin"));
            let path = std::env::var_os("PATH").unwrap_or_default();
            let all = bins.chain(std::env::split_paths(&path));
            let joined = std::env::join_paths(all)
                .map_err(|e| format!("cannot put the layers' bin/ on PATH: {e}"))?;
            envs.push(("PATH".into(), joined));
        }
        if let Some(wrapper) = wrapper.filter(|w| !w.is_empty()) {
            let mapped = self.opt(&wrapper);
            find(&mapped).map_err(|e| format!("AWS_LAMBDA_EXEC_WRAPPER: {e}"))?;
            envs.push(("AWS_LAMBDA_EXEC_WRAPPER".into(), mapped));
        }
        Ok(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_is_read_from_the_last_argument_only_when_it_is_one() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            handler_in(&args(&["app.handler"])).as_deref(),
            Some("app.handler")
        );
        assert_eq!(
            handler_in(&args(&["-m", "awslambdaric", "src/app.lambda_handler"])).as_deref(),
            Some("src/app.lambda_handler")
        );
        assert_eq!(handler_in(&args(&[])), None);
        assert_eq!(handler_in(&args(&["--verbose"])), None);
        assert_eq!(handler_in(&args(&["serve"])), None);
        assert_eq!(handler_in(&args(&["config.json.bak/"])), None);
        // A file, such as the script a runtime is given.
        assert_eq!(handler_in(&args(&["Cargo.toml"])), None);
    }
}
