//! Namespaces and ServiceAccount credentials on a [`Cluster`].

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::PostParams;
use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedContext};
use kube::{Api, Client};
use serde_json::json;

use crate::cluster::{Cluster, client_from_file};
use crate::error::{Error, Result};
use crate::local::random_hex;
use crate::wait::{observed_yaml, wait_for};

impl Cluster {
    /// Creates a namespace named `<prefix>-<random>` and returns its name once its `default`
    /// ServiceAccount is ready to admit pods. Deleted on drop on an external cluster.
    pub async fn create_namespace(&self, prefix: &str) -> Result<String> {
        self.create_namespace_named(&format!("{prefix}-{}", random_hex(3)?))
            .await
    }

    /// Creates the namespace `name` exactly (it must not exist yet) and waits until pods can be
    /// admitted there.
    pub async fn create_namespace_named(&self, name: &str) -> Result<String> {
        let name = name.to_owned();
        let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } }))
            .map_err(|e| Error::Invalid(format!("namespace {name}: {e}")))?;
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(Error::kube(format!("creating namespace {name}")))?;
        // Only an external cluster outlives the handle; a local one disappears whole.
        if self.local.is_none()
            && let Ok(mut created) = self.created_namespaces.lock()
        {
            created.push(name.clone());
        }
        self.wait_service_account_token(&name).await?;
        Ok(name)
    }

    /// On 1.20 pods are admitted only once the namespace's `default` ServiceAccount has its token
    /// Secret; current clusters need only the ServiceAccount.
    pub(crate) async fn wait_service_account_token(&self, namespace: &str) -> Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), namespace);
        let needs_secret = self.plays_kubelet();
        wait_for(
            &format!("ServiceAccount {namespace}/default (with its token Secret on 1.20)"),
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let account = accounts
                    .get_opt("default")
                    .await
                    .map_err(Error::kube("reading ServiceAccount default"))?;
                Ok(match account {
                    Some(sa)
                        if !needs_secret || sa.secrets.as_ref().is_some_and(|s| !s.is_empty()) =>
                    {
                        Ok(())
                    }
                    other => Err(observed_yaml(&other)),
                })
            },
        )
        .await
        .map_err(|e| self.with_logs(e))
    }

    /// Writes a kubeconfig that authenticates as ServiceAccount `namespace/name` (which must
    /// exist) with a token from a `kubernetes.io/service-account-token` Secret the harness
    /// creates, and returns its path. Use it to run a process (the operator) as that account.
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self.service_account_token(namespace, name).await?;
        let mut config = Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| Error::Invalid(format!("reading {}: {e}", self.kubeconfig.display())))?;
        let context_name = config.current_context.clone().ok_or_else(|| {
            Error::Invalid(format!(
                "{} has no current-context",
                self.kubeconfig.display()
            ))
        })?;
        let context = config
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{} lacks context {context_name}",
                    self.kubeconfig.display()
                ))
            })?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        config.auth_infos = vec![NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                token: Some(token.into()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }];
        config.contexts = vec![NamedContext {
            name: user.clone(),
            context: Some(Context {
                user: Some(user.clone()),
                namespace: Some(namespace.to_owned()),
                ..context
            }),
            ..NamedContext::default()
        }];
        config.current_context = Some(user);
        let dir = self
            .dir()
            .ok_or_else(|| Error::Invalid("the cluster has no temporary directory".into()))?;
        let path = dir.join(format!("sa-{namespace}-{name}.kubeconfig"));
        let yaml = serde_norway::to_string(&config)
            .map_err(|e| Error::Invalid(format!("serializing a kubeconfig: {e}")))?;
        std::fs::write(&path, yaml).map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// A client that authenticates as ServiceAccount `namespace/name`: the API server applies
    /// exactly the RBAC granted to that account.
    pub async fn client_for_service_account(&self, namespace: &str, name: &str) -> Result<Client> {
        let path = self.service_account_kubeconfig(namespace, name).await?;
        client_from_file(&path).await
    }

    async fn service_account_token(&self, namespace: &str, name: &str) -> Result<String> {
        let secrets: Api<Secret> = Api::namespaced(self.client(), namespace);
        let secret_name = format!("{name}-e2e-token");
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {
                "name": secret_name,
                "annotations": { "kubernetes.io/service-account.name": name },
            },
            "type": "kubernetes.io/service-account-token",
        }))
        .map_err(|e| Error::Invalid(format!("token Secret for {namespace}/{name}: {e}")))?;
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => {
                return Err(Error::kube(format!(
                    "creating token Secret {namespace}/{secret_name}"
                ))(e));
            }
        }
        let token = wait_for(
            &format!("the token controller to fill Secret {namespace}/{secret_name} for ServiceAccount {name} (does the ServiceAccount exist?)"),
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async {
                let secret = secrets.get_opt(&secret_name).await.map_err(Error::kube("reading the token Secret"))?;
                let token = secret
                    .as_ref()
                    .and_then(|s| s.data.as_ref())
                    .and_then(|d| d.get("token"))
                    .map(|t| String::from_utf8_lossy(&t.0).into_owned());
                Ok(token.ok_or_else(|| observed_yaml(&secret)))
            },
        )
        .await
        .map_err(|e| self.with_logs(e))?;
        Ok(token)
    }
}
