//! The `vcproxy` command: serve, and manage tenants.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vcproxy::config::Config;
use vcproxy::tenants::Store;

#[derive(Parser)]
#[command(name = "vcproxy", version, about = "A virtual Kubernetes cluster per tenant on one shared apiserver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage tenants (stored in etcd; running proxies pick changes up live).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Fairness policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; explains errors with line numbers.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and its admin user; prints the admin's kubeconfig.
    Create {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// List tenants.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Delete a tenant and everything vcproxy stores for it.
    Delete {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// Issue a new token for a user (created if missing); prints its kubeconfig.
    /// A new user is in no group and can do nothing until the tenant's RBAC
    /// grants it something; `--group cluster-admins` makes a tenant admin.
    Kubeconfig {
        name: String,
        #[arg(long, default_value = "admin")]
        user: String,
        /// Set the user's groups (repeatable); replaces the groups it had.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Remove the user from every group.
        #[arg(long, conflicts_with = "groups")]
        no_groups: bool,
        #[arg(long)]
        config: PathBuf,
    },
    /// Give the tenant an OIDC issuer whose ID tokens authenticate its users (as
    /// kube-apiserver's --oidc-* flags), or remove it with --remove.
    Oidc {
        name: String,
        #[arg(long)]
        config: PathBuf,
        /// Remove the tenant's issuer (static tokens keep working).
        #[arg(long, conflicts_with_all = ["issuer_url", "client_id", "jwks_file", "fetch_jwks"])]
        remove: bool,
        /// The issuer (https); ID tokens' `iss` must equal it exactly.
        #[arg(long, required_unless_present = "remove")]
        issuer_url: Option<String>,
        /// Must be in ID tokens' `aud`.
        #[arg(long, required_unless_present = "remove")]
        client_id: Option<String>,
        #[arg(long, default_value = "sub")]
        username_claim: String,
        /// Default: `<issuer-url>#` unless the claim is `email`; `-` for none.
        #[arg(long, allow_hyphen_values = true)]
        username_prefix: Option<String>,
        #[arg(long)]
        groups_claim: Option<String>,
        #[arg(long, default_value = "")]
        groups_prefix: String,
        /// The issuer's JWKS (JSON), stored with the tenant.
        #[arg(long, required_unless_present_any = ["remove", "fetch_jwks"], conflicts_with = "fetch_jwks")]
        jwks_file: Option<PathBuf>,
        /// Fetch the JWKS from the issuer's discovery document (and keep it fresh).
        #[arg(long)]
        fetch_jwks: bool,
        /// PEM CA bundle for fetching from the issuer (default: the system's).
        #[arg(long, requires = "fetch_jwks")]
        ca_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VCPROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => vcproxy::server::run(Config::load(&config)?).await,
        Command::Tenant { command } => tenant(command).await,
        Command::Policy { command: PolicyCommand::Check { file } } => check_policy(&file),
    }
}

async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, config } => {
            let config = Config::load(&config)?;
            let store = Store::connect(&config.etcd).await?;
            let (meta, token) = store.create_tenant(&name).await?;
            eprintln!("created tenant {} (uid {})", meta.name, meta.uid);
            // Every tenant starts with a `default` namespace, as a cluster does.
            let (upstream, metrics) = upstream(&config)?;
            vcproxy::namespaces::ensure_namespace(
                &upstream,
                &metrics,
                &name,
                "default",
                &config.tenancy.pod_security_enforce,
            )
            .await
            .context("creating the tenant's default namespace")?;
            vcproxy::tenant_rbac::ensure_cluster_scope(&upstream, &metrics, &name)
                .await
                .context("creating the tenant's cluster-scope namespace")?;
            print!("{}", kubeconfig(&config, &name, "admin", &token)?);
        }
        TenantCommand::List { config } => {
            let config = Config::load(&config)?;
            let store = Store::connect(&config.etcd).await?;
            println!("{:<24} {:<38} CREATED", "NAME", "UID");
            for t in store.list_tenants().await? {
                println!("{:<24} {:<38} {}", t.name, t.uid, t.created_at);
            }
        }
        TenantCommand::Delete { name, config } => {
            let config = Config::load(&config)?;
            let store = Store::connect(&config.etcd).await?;
            if !store.delete_tenant(&name).await? {
                anyhow::bail!("tenant {name:?} does not exist");
            }
            // Its tokens stop working now; its namespaces are deleted after.
            let (upstream, metrics) = upstream(&config)?;
            let count = vcproxy::namespaces::delete_all(&upstream, &metrics, &name)
                .await
                .context("deleting the tenant's namespaces")?;
            vcproxy::tenant_rbac::delete_cluster_scope(&upstream, &metrics, &name)
                .await
                .context("deleting the tenant's cluster-scope namespace")?;
            eprintln!("deleted tenant {name} and {count} namespaces");
        }
        TenantCommand::Kubeconfig { name, user, groups, no_groups, config } => {
            let config = Config::load(&config)?;
            let store = Store::connect(&config.etcd).await?;
            let groups = if no_groups || !groups.is_empty() { Some(groups) } else { None };
            let token = store.issue_token(&name, &user, groups).await?;
            print!("{}", kubeconfig(&config, &name, &user, &token)?);
        }
        TenantCommand::Oidc {
            name,
            config,
            remove,
            issuer_url,
            client_id,
            username_claim,
            username_prefix,
            groups_claim,
            groups_prefix,
            jwks_file,
            fetch_jwks,
            ca_file,
        } => {
            let config = Config::load(&config)?;
            let store = Store::connect(&config.etcd).await?;
            if remove {
                store.set_oidc(&name, None).await?;
                eprintln!("removed the OIDC issuer of tenant {name}");
                return Ok(());
            }
            let read = |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
            let jwks = match &jwks_file {
                Some(f) => {
                    Some(serde_json::from_str(&read(f)?).with_context(|| format!("{} is not JSON", f.display()))?)
                }
                None => None,
            };
            let issuer = vcproxy::oidc::OidcIssuer {
                issuer_url: issuer_url.unwrap_or_default(),
                client_id: client_id.unwrap_or_default(),
                username_claim,
                username_prefix,
                groups_claim,
                groups_prefix,
                jwks,
                fetch_jwks,
                ca_pem: ca_file.as_ref().map(read).transpose()?,
            };
            store.set_oidc(&name, Some(issuer.clone())).await?;
            eprintln!(
                "tenant {name} now accepts ID tokens from {} (client id {})",
                issuer.issuer_url, issuer.client_id
            );
        }
    }
    Ok(())
}

fn check_policy(file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let tenancy = vcproxy::config::TenancyConfig::default();
    match vcproxy::policy::parse(&text, &tenancy) {
        Ok(p) => {
            println!("{}: valid", file.display());
            for (name, level) in &p.flow.levels {
                if level.exempt {
                    println!("  level {name}: exempt");
                } else {
                    println!("  level {name}: {} seats, queue {} per tenant", level.seats, level.queue_length_limit);
                }
            }
            println!("  default level {}, default weight {}", p.flow.default_level, p.flow.default_weight);
            let mut tenants: Vec<_> = p.flow.tenants.iter().collect();
            tenants.sort_by(|a, b| a.0.cmp(b.0));
            for (name, t) in tenants {
                let level = t.level.as_deref().unwrap_or(&p.flow.default_level);
                println!("  tenant {name}: level {level}, weight {}", t.weight);
            }
            Ok(())
        }
        Err(e) => match e.line {
            Some(line) => anyhow::bail!("{}:{line}: {}", file.display(), e.message),
            None => anyhow::bail!("{}: {}", file.display(), e.message),
        },
    }
}

/// vcproxy's own upstream client, for CLI commands that manage namespaces.
fn upstream(config: &Config) -> anyhow::Result<(vcproxy::upstream::Upstream, vcproxy::metrics::Metrics)> {
    Ok((vcproxy::upstream::Upstream::new(config)?, vcproxy::metrics::Metrics::new()))
}

fn kubeconfig(config: &Config, tenant: &str, user: &str, token: &str) -> anyhow::Result<String> {
    let pki = vcproxy::tls::ensure_serving_pki(config)?;
    let ca = std::fs::read(&pki.ca_file).with_context(|| format!("reading {}", pki.ca_file.display()))?;
    Ok(vcproxy::kubeconfig::render(&config.server.public_url, &ca, tenant, user, token))
}
