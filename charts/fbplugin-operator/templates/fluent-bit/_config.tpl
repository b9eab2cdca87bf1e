{{/* The base fluent-bit.conf: the user's sections, then a [SERVICE] section owned by the chart
(repeated [SERVICE] sections merge, later keys win) so the probes' endpoints are always on.
Sections are separated by one empty line; a line holding only spaces would be a Fluent Bit
config error, so every part is trimmed. */}}
{{- define "fbplugin.fluentbit.conf" -}}
{{- $c := .Values.fluentBit.config -}}
{{- $parts := list -}}
{{- range $part := list $c.service $c.inputs $c.filters $c.outputs -}}
{{- if trim (default "" $part) }}{{ $parts = append $parts (trim $part) }}{{ end -}}
{{- end -}}
{{- $parts = append $parts (printf "[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n    HTTP_Port %d\n    Health_Check On" (int .Values.fluentBit.metricsPort)) -}}
{{- $parts = append $parts "# The fbplugin operator's plugins: it mounts this file.\n@INCLUDE /fluent-bit/etc/fbplugin/pipeline.conf" -}}
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
