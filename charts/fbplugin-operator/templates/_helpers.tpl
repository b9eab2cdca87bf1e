{{/* The chart's name, or nameOverride. */}}
{{- define "fbplugin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, the usual Helm convention: fullnameOverride when set; else
"<release>-<name>" (name: nameOverride, else the chart's name), or the release name alone when
it already contains that name. Truncated to 63 characters (a DNS label). Release "fbplugin"
gives "fbplugin-fbplugin-operator"; nameOverride=operator gives "fbplugin-operator". */}}
{{- define "fbplugin.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "fbplugin.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of the objects themselves. They name the chart version and app version, so they
change on every upgrade: never put them on a pod template, which gets the selector and fbplugin.stableLabels only,
so that an upgrade with no other change rolls no pod. */}}
{{- define "fbplugin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "fbplugin.stableLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Labels that do not change between chart versions. */}}
{{- define "fbplugin.stableLabels" -}}
app.kubernetes.io/part-of: fbplugin
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fbplugin.operator.selector" -}}
app.kubernetes.io/name: {{ include "fbplugin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fbplugin.fluentbit.selector" -}}
app.kubernetes.io/name: {{ .Values.fluentBit.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The one namespace the operator watches unless clusterWide: watchNamespace, else the
release namespace. */}}
{{- define "fbplugin.watchNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}

{{- define "fbplugin.serviceAccountName" -}}
{{- default (include "fbplugin.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Like the official fluent-bit chart: without create, an empty name is "default". */}}
{{- define "fbplugin.fluentbit.serviceAccountName" -}}
{{- if .Values.fluentBit.serviceAccount.create -}}
{{- default .Values.fluentBit.name .Values.fluentBit.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.fluentBit.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Whether the Fluent Bit pods get a ServiceAccount token: serviceAccount.automountServiceAccountToken
when set, else exactly when the chart grants the kubernetes filter's RBAC (rbac.create). */}}
{{- define "fbplugin.fluentbit.automountToken" -}}
{{- $fb := .Values.fluentBit -}}
{{- if kindIs "bool" $fb.serviceAccount.automountServiceAccountToken -}}
{{- $fb.serviceAccount.automountServiceAccountToken -}}
{{- else -}}
{{- $fb.rbac.create -}}
{{- end -}}
{{- end -}}

{{/* repository[:tag][@digest] from a dict with repository, tag, digest and a default tag. */}}
{{- define "fbplugin.image" -}}
{{- $tag := default .defaultTag .image.tag -}}
{{- $ref := .image.repository -}}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end -}}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{/* The rules the operator needs in the namespaces it watches, read off its controller:
- fluentbitplugins: list and watch (its reflector and the per-DaemonSet list), patch (the
  finalizer, added and removed with JSON patches); status: patch (server-side apply).
- daemonsets: get (sync), list and watch (metadata watch; finding the old DaemonSet of a
  retargeted plugin), patch (server-side apply of the pod-template fields it owns). Never
  create or delete.
- configmaps: get (base config, rendered ConfigMap), list and watch (metadata watch), create
  and patch (server-side apply creates the rendered ConfigMap; an apply that creates is
  authorized as create), delete (the rendered ConfigMap once no plugin is left).
- pods: list (rollout assessment of the DaemonSet's pods).
- events.k8s.io events: create, and patch (repeated Events are updated as a series).
Nothing on Secrets. */}}
{{- define "fbplugin.rules" -}}
- apiGroups: ["fbplugin.dev"]
  resources: ["fluentbitplugins"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["fbplugin.dev"]
  resources: ["fluentbitplugins/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
