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
{{- $parts = append $parts (printf "[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n    HTTP_Port %d\n    Health_Check On" (int .Values.fluentBit.httpPort)) -}}
{{- join "\n\n" $parts }}
{{- end -}}
