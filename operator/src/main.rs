//! The `operator` binary: `run` (the controller), `render` (offline) and `crd`.

mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fbplugin_crds::{Cel, crd_yaml};
use operator::gate::ImagePolicy;
use operator::offline;

/// Reconciles FluentBitPlugin resources into Fluent Bit DaemonSets.
#[derive(Parser)]
#[command(name = "operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster (in cluster, or from KUBECONFIG / ~/.kube/config).
    Run(run::RunArgs),
    /// Render the ConfigMaps and DaemonSet apply intents for CR files, without a cluster.
    /// Exits 1 when a CR is invalid (the valid ones are still printed).
    Render {
        /// FluentBitPlugin YAML files or directories (searched for *.yaml / *.yml).
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// The target DaemonSet's YAML, or `helm template` output holding it and its
        /// ConfigMap (for the ConfigMap's owner uid, the opt-in and container checks, and the
        /// DaemonSet's own config when --base-config is not given).
        #[arg(long)]
        daemonset: Option<PathBuf>,
        /// The DaemonSet's own main config (its fluent-bit.conf); when not given, read from the
        /// --daemonset file's ConfigMap, else unknown (then the include of the operator's
        /// pipeline is not checked).
        #[arg(long)]
        base_config: Option<PathBuf>,
        /// Refuse images outside these repositories, as `operator run` does (repeatable; a
        /// trailing `/` allows everything below). Without it no allow-list is applied.
        #[arg(long = "allowed-image-repository", value_name = "REPOSITORY")]
        allowed_image_repositories: Vec<String>,
    },
    /// Print the FluentBitPlugin CRD.
    Crd {
        /// Without CEL validation rules, for Kubernetes before 1.25 (e.g. 1.20).
        #[arg(long)]
        no_cel: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
        Command::Render {
            files,
            daemonset,
            base_config,
            allowed_image_repositories,
        } => {
            let images = (!allowed_image_repositories.is_empty())
                .then(|| ImagePolicy::new(&allowed_image_repositories));
            render(
                &files,
                daemonset.as_deref(),
                base_config.as_deref(),
                images.as_ref(),
            )
        }
        Command::Crd { no_cel } => match crd_yaml(if no_cel { Cel::Strip } else { Cel::Keep }) {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("operator: cannot serialize the CRD: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

fn render(
    files: &[PathBuf],
    daemonset: Option<&std::path::Path>,
    base_config: Option<&std::path::Path>,
    images: Option<&ImagePolicy>,
) -> ExitCode {
    let read = |path: &std::path::Path| offline::read_bounded(path).map_err(|e| e.to_string());
    let inputs = (|| -> Result<_, String> {
        let sources = offline::load_plugins(files).map_err(|e| e.to_string())?;
        if sources.is_empty() {
            return Err("no FluentBitPlugin documents found in the given files".into());
        }
        let workloads = match daemonset {
            Some(path) => Some(
                offline::parse_workloads(&path.display().to_string(), &read(path)?)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let ds = workloads.as_ref().and_then(|w| w.target(&sources)).cloned();
        let mut notes = Vec::new();
        let base = match (base_config, &workloads, &ds) {
            (Some(path), _, _) => read(path)?,
            (None, Some(w), Some(ds)) => match w.base_config(ds) {
                Some((text, from)) => {
                    notes.push(format!(
                        "note: the DaemonSet's own config read from {from} in {}",
                        daemonset
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ));
                    text
                }
                None => String::new(),
            },
            _ => String::new(),
        };
        if let (Some(w), None) = (&workloads, &ds) {
            notes.push(format!(
                "note: --daemonset holds {} DaemonSets and no plugin targets one of them: none \
                 was used",
                w.daemonsets.len()
            ));
        }
        Ok((sources, ds, base, notes))
    })();
    let (sources, ds, base, notes) = match inputs {
        Ok(inputs) => inputs,
        Err(err) => {
            eprintln!("operator render: {err}");
            return ExitCode::from(2);
        }
    };
    match offline::render_checked(&sources, ds.as_ref(), &base, images) {
        Ok(output) => {
            print!("{}", output.manifests);
            for message in notes.iter().chain(&output.messages) {
                eprintln!("{message}");
            }
            if output.failed {
                eprintln!("operator render: invalid FluentBitPlugins were left out (see above)");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("operator render: cannot write YAML: {err}");
            ExitCode::FAILURE
        }
    }
}
