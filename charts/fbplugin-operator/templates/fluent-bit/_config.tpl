{{/* The base fluent-bit.conf: the user's sections, then a [SERVICE] section owned by the chart
(repeated [SERVICE] sections merge, later keys win) so the probes' endpoints are always on,
then, last, the line that includes the operator's pipeline file. The operator mounts its
ConfigMap <fluentBit.name>-fbplugin as a directory at /fluent-bit/etc/fbplugin/ (with an
empty pipeline while no plugin targets this DaemonSet) and refuses plugins while the main
config lacks this line; it must be in column 0 of the main file itself. Sections are
separated by one empty line; a line holding only spaces would be a Fluent Bit config error,
so every part is trimmed. A user part holding the include line too would include the
plugins' sections twice: refused. */}}
{{- define "fbplugin.fluentbit.include" -}}
@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf
{{- end -}}
{{- define "fbplugin.fluentbit.conf" -}}
{{- $c := .Values.fluentBit.config -}}
{{- $include := include "fbplugin.fluentbit.include" . -}}
{{- $parts := list -}}
{{- range $name := list "service" "inputs" "filters" "outputs" -}}
{{- $part := trim (default "" (get $c $name)) -}}
{{- if regexMatch (printf "(?mi)^%s\\r?$" (regexQuoteMeta $include)) $part -}}
{{- fail (printf "fluentBit.config.%s: remove the line `%s`; the chart adds it itself, at the end of fluent-bit.conf" $name $include) -}}
{{- end -}}
{{- if $part }}{{ $parts = append $parts $part }}{{ end -}}
{{- end -}}
{{- $parts = append $parts (printf "[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n    HTTP_Port %d\n    Health_Check On" (int .Values.fluentBit.metricsPort)) -}}
{{- $parts = append $parts (printf "# The fbplugin operator mounts this file (ConfigMap %s-fbplugin, at /fluent-bit/etc/fbplugin/): the plugins' sections.\n%s" .Values.fluentBit.name $include) -}}
{{- join "\n\n" $parts }}
{{- end -}}

{{/* The data of the ConfigMap <fluentBit.name>, mounted at /fluent-bit/etc/conf/: the main
config, the custom parsers when given, and config.extraFiles. Also what checksum/config is
computed over, so a change to any of these files rolls the pods. */}}
{{- define "fbplugin.fluentbit.configData" -}}
{{- $c := .Values.fluentBit.config -}}
{{- $data := dict "fluent-bit.conf" (printf "%s\n" (include "fbplugin.fluentbit.conf" .)) -}}
{{- if trim (default "" $c.customParsers) -}}
{{- $_ := set $data "custom_parsers.conf" $c.customParsers -}}
{{- end -}}
{{- range $key, $content := $c.extraFiles -}}
{{- if hasKey $data $key -}}
{{- fail (printf "fluentBit.config.extraFiles.%s: that file is the chart's (fluent-bit.conf is the main config, custom_parsers.conf comes from config.customParsers)" $key) -}}
{{- end -}}
{{- $_ := set $data $key $content -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}
