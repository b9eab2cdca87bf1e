//! `fbplugin-image build`: a built plugin in, an OCI image out (layout, archive, registry),
//! its digest, the file's sha256 and a ready FluentBitPlugin on stdout.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fbplugin_image::cr::{self, Artifact, NewPlugin};
use fbplugin_image::registry::{Client, Credentials};
use fbplugin_image::{Error, Image, PluginFile, PluginKind, Reference, layout};

#[derive(Parser)]
#[command(
    name = "fbplugin-image",
    version,
    about = "Build reproducible, shell-free OCI images of Fluent Bit plugins for the fbplugin operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Build the image of a plugin file; optionally write it as an OCI layout or archive and
    /// push it. Prints the image digest, the file's sha256 and a FluentBitPlugin.
    Build(Build),
}

#[derive(clap::Args)]
struct Build {
    /// The built plugin: `lib<crate>.so` (cargo build --release) or `<crate>.wasm`
    /// (--target wasm32-unknown-unknown).
    plugin: PathBuf,
    /// The image's name: `<registry host[:port]>/<repository>[:<tag>]`.
    #[arg(long, value_name = "REF")]
    image: String,
    /// Push to the registry of --image (plain HTTP only for localhost/127.0.0.1 or --insecure).
    #[arg(long)]
    push: bool,
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    insecure: bool,
    /// Registry user name (the password is read from stdin with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the registry password or token from stdin.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Also write the image as an OCI image layout directory.
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Also write the image as an OCI archive (a tar of the layout; `ctr images import` reads it).
    #[arg(long, value_name = "FILE")]
    oci_archive: Option<PathBuf>,
    /// A FluentBitPlugin file: print it with spec.artifact.image, .path and .sha256 set.
    #[arg(long, value_name = "FILE")]
    cr: Option<PathBuf>,
    /// With --cr: write the patched file back in place.
    #[arg(long, requires = "cr")]
    write_cr: bool,
    /// Without --cr: metadata.name of the printed FluentBitPlugin (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    /// Without --cr: metadata.namespace.
    #[arg(long, default_value = "logging")]
    namespace: String,
    /// Without --cr: spec.type (input, output, custom; a .wasm is a filter).
    #[arg(long = "type", value_name = "TYPE")]
    plugin_type: Option<String>,
    /// Without --cr: spec.pluginName, the name the .so registers.
    #[arg(long)]
    plugin_name: Option<String>,
    /// Without --cr: spec.wasm.functionName, the function the .wasm exports.
    #[arg(long)]
    function_name: Option<String>,
    /// Without --cr: spec.target.daemonSet.
    #[arg(long, default_value = "fluent-bit")]
    daemonset: String,
    /// Without --cr: spec.instances[0].match (outputs and filters).
    #[arg(long = "match", default_value = "*")]
    match_pattern: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Commands::Build(build) = cli.command;
    match run(build) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fbplugin-image: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Build) -> Result<(), Error> {
    let reference = Reference::parse(&args.image)?;
    let plugin = PluginFile::read(&args.plugin)?;
    let image = Image::build(&plugin)?;
    let name = match &reference.tag {
        Some(tag) => format!("{}/{}:{tag}", reference.registry, reference.repository),
        None => format!("{}/{}:latest", reference.registry, reference.repository),
    };
    if let Some(dir) = &args.oci_layout {
        layout::write_dir(&image, Some(&name), dir)?;
        eprintln!("fbplugin-image: wrote the OCI layout {}", dir.display());
    }
    if let Some(file) = &args.oci_archive {
        let bytes = layout::archive_bytes(&image, Some(&name))?;
        std::fs::write(file, bytes)
            .map_err(|e| Error::Layout(format!("writing {}: {e}", file.display())))?;
        eprintln!("fbplugin-image: wrote the OCI archive {}", file.display());
    }
    let pinned = reference.with_digest(image.digest());
    if args.push {
        let credentials = match (&args.username, args.password_stdin) {
            (Some(username), true) => {
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .map_err(|e| {
                        Error::Registry(format!("reading the password from stdin: {e}"))
                    })?;
                Some(Credentials {
                    username: username.clone(),
                    password: password.trim_end_matches(['\r', '\n']).to_owned(),
                })
            }
            _ => None,
        };
        let mut client = Client::new(&reference, args.insecure, credentials);
        client.push(&image, reference.tag.as_deref())?;
        eprintln!("fbplugin-image: pushed {pinned}");
    }

    let artifact = Artifact {
        image: pinned.clone(),
        path: image.plugin_path.clone(),
        sha256: image.plugin_sha256.clone(),
    };
    let yaml = match &args.cr {
        Some(file) => {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::Cr(format!("reading {shown}: {e}")))?;
            let patched = cr::patch(&text, &artifact, &shown)?;
            if args.write_cr {
                let temp = file.with_extension("yaml.tmp");
                std::fs::write(&temp, &patched)
                    .and_then(|()| std::fs::rename(&temp, file))
                    .map_err(|e| Error::Cr(format!("writing {shown}: {e}")))?;
                eprintln!("fbplugin-image: updated spec.artifact in {shown}");
            }
            patched
        }
        None => cr::generate(
            &new_plugin(&args, &plugin)?,
            &artifact,
            plugin.kind == PluginKind::Wasm,
        ),
    };
    let pushed = if args.push {
        "pushed"
    } else {
        "not pushed: pass --push"
    };
    println!("# image: {pinned} ({pushed})");
    println!(
        "# plugin: {} sha256 {}",
        image.plugin_path, image.plugin_sha256
    );
    println!(
        "# size: {} bytes (copy program layer {}, plugin layer {})",
        image.size(),
        image.layers[0].bytes.len(),
        image.layers[1].bytes.len()
    );
    print!("{yaml}");
    Ok(())
}

fn new_plugin(args: &Build, plugin: &PluginFile) -> Result<NewPlugin, Error> {
    let missing = |flag: &str, what: &str| {
        Error::Cr(format!(
            "{flag} is needed to print a FluentBitPlugin ({what}); or pass --cr <file> to fill in an existing one"
        ))
    };
    let (plugin_type, registered_name) = match plugin.kind {
        PluginKind::Wasm => {
            if args.plugin_type.as_deref().is_some_and(|t| t != "filter") {
                return Err(Error::Cr(
                    "a .wasm plugin is a filter: drop --type or set --type filter".into(),
                ));
            }
            let function = args.function_name.clone().ok_or_else(|| {
                missing(
                    "--function-name",
                    "the function the module exports, spec.wasm.functionName",
                )
            })?;
            ("filter".to_owned(), function)
        }
        PluginKind::SharedObject => {
            let t = args
                .plugin_type
                .clone()
                .ok_or_else(|| missing("--type", "input, output or custom"))?;
            if !matches!(t.as_str(), "input" | "output" | "custom") {
                return Err(Error::Cr(format!(
                    "--type {t:?}: a .so plugin is an input, output or custom plugin"
                )));
            }
            let name = args.plugin_name.clone().ok_or_else(|| {
                missing(
                    "--plugin-name",
                    "the name the plugin registers, spec.pluginName",
                )
            })?;
            (t, name)
        }
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&plugin.name));
    Ok(NewPlugin {
        name,
        namespace: args.namespace.clone(),
        plugin_type,
        registered_name,
        daemonset: args.daemonset.clone(),
        match_pattern: args.match_pattern.clone(),
    })
}

/// `libout_jsonl.so` → `out-jsonl`, `filter_redact.wasm` → `filter-redact`.
fn default_name(file: &str) -> String {
    let stem = file.trim_end_matches(".so").trim_end_matches(".wasm");
    let stem = if file.ends_with(".so") {
        stem.strip_prefix("lib").unwrap_or(stem)
    } else {
        stem
    };
    stem.to_ascii_lowercase().replace(['_', '.'], "-")
}
