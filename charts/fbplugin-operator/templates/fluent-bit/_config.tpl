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

{{/* The main config's file name in /fluent-bit/etc/conf/: fluent-bit.yaml with
configFileFormat yaml (Fluent Bit 5.1.1 picks the format by the extension), else
fluent-bit.conf. The args, the opt-in annotation and the ConfigMap all use it. */}}
{{- define "fbplugin.fluentbit.configFile" -}}
{{- if eq .Values.fluentBit.configFileFormat "yaml" -}}
fluent-bit.yaml
{{- else -}}
fluent-bit.conf
{{- end -}}
{{- end -}}

{{/* The base fluent-bit.yaml, from the structured value config.yaml, one top-level section
after the other in a fixed order, each through toYaml (so every value is quoted as YAML
needs). Fluent Bit 5.1.1's loader reads every scalar as a string, so `true`/`on` and `10` mean
what they mean in the classic format. Empty sections are left out (a null section is a load
error). The chart merges the HTTP server and health check into `service` (they replace any
spelling of those keys the user gave, as the chart's [SERVICE] section does in classic mode;
Fluent Bit reads `service` only once, so it cannot be a second section) and appends the
operator's pipeline file to `includes`, which comes last: includes are read where they
stand, so the user's included files and then the plugins' filters run after
pipeline.filters. A user-listed include of the operator's directory is refused. */}}
{{- define "fbplugin.fluentbit.yamlInclude" -}}
/fluent-bit/etc/fbplugin/pipeline.yaml
{{- end -}}
{{- define "fbplugin.fluentbit.yaml" -}}
{{- $y := .Values.fluentBit.config.yaml -}}
{{- $include := include "fbplugin.fluentbit.yamlInclude" . -}}
{{- if contains "{{" (toYaml $y) -}}
{{- fail "fluentBit.config.yaml: holds `{{`; it is written as it is, not a template: write the values themselves (the official chart's `{{ .Values.metricsPort }}` is fluentBit.metricsPort here)" -}}
{{- end -}}
{{- $includes := list -}}
{{- range $entry := default list $y.includes -}}
{{- if eq $entry $include -}}
{{- fail (printf "fluentBit.config.yaml.includes: remove `%s`; the chart adds it itself, as the last include of fluent-bit.yaml" $include) -}}
{{- end -}}
{{- if hasPrefix "/fluent-bit/etc/fbplugin/" $entry -}}
{{- fail (printf "fluentBit.config.yaml.includes: `%s` is in the operator's directory /fluent-bit/etc/fbplugin/; the chart includes its pipeline.yaml itself" $entry) -}}
{{- end -}}
{{- $includes = append $includes $entry -}}
{{- end -}}
{{- $includes = append $includes $include -}}
{{- $service := dict -}}
{{- range $key, $value := default dict $y.service -}}
{{- if not (has (lower (replace "_" "" $key)) (list "httpserver" "httplisten" "httpport" "healthcheck")) -}}
{{- $_ := set $service $key $value -}}
{{- end -}}
{{- end -}}
{{- $_ := set $service "http_server" true -}}
{{- $_ := set $service "http_listen" "0.0.0.0" -}}
{{- $_ := set $service "http_port" (int .Values.fluentBit.metricsPort) -}}
{{- $_ := set $service "health_check" true -}}
{{- $parts := list -}}
{{- with $y.env }}{{ $parts = append $parts (printf "env:\n%s" (toYaml . | indent 2)) }}{{ end -}}
{{- $parts = append $parts (printf "service:\n%s" (toYaml $service | indent 2)) -}}
{{- range $name := list "parsers" "multiline_parsers" "upstream_servers" "plugins" "customs" "stream_processor" -}}
{{- with get $y $name }}{{ $parts = append $parts (printf "%s:\n%s" $name (toYaml . | indent 2)) }}{{ end -}}
{{- end -}}
{{- $pipeline := list -}}
{{- range $name := list "inputs" "filters" "outputs" -}}
{{- with get (default dict $y.pipeline) $name -}}
{{- $entries := list -}}
{{- range $entry := . -}}
{{- $rest := omit $entry "name" -}}
{{- $text := printf "- %s" (toYaml (dict "name" $entry.name)) -}}
{{- if $rest }}{{ $text = printf "%s\n%s" $text (toYaml $rest | indent 2) }}{{ end -}}
{{- $entries = append $entries $text -}}
{{- end -}}
{{- $pipeline = append $pipeline (printf "%s:\n%s" $name (join "\n" $entries | indent 2)) -}}
{{- end -}}
{{- end -}}
{{- if $pipeline }}{{ $parts = append $parts (printf "pipeline:\n%s" (join "\n" $pipeline | indent 2)) }}{{ end -}}
{{- $parts = append $parts (printf "# The fbplugin operator mounts the last one (ConfigMap %s-fbplugin, at /fluent-bit/etc/fbplugin/): the plugins' sections.\n%s" .Values.fluentBit.name (printf "includes:\n%s" (toYaml $includes | indent 2))) -}}
{{- join "\n" $parts }}
{{- end -}}

{{/* The data of the ConfigMap <fluentBit.name>, mounted at /fluent-bit/etc/conf/: the main
config (fluent-bit.conf or fluent-bit.yaml, by configFileFormat), the custom parsers when
given, and config.extraFiles. Also what checksum/config is computed over, so a change to any
of these files, or of the format, rolls the pods. */}}
{{- define "fbplugin.fluentbit.configData" -}}
{{- $c := .Values.fluentBit.config -}}
{{- $file := include "fbplugin.fluentbit.configFile" . -}}
{{- $main := "" -}}
{{- if eq $file "fluent-bit.yaml" -}}
{{- $main = include "fbplugin.fluentbit.yaml" . -}}
{{- else -}}
{{- $main = include "fbplugin.fluentbit.conf" . -}}
{{- end -}}
{{- $data := dict $file (printf "%s\n" $main) -}}
{{- if trim (default "" $c.customParsers) -}}
{{- $_ := set $data "custom_parsers.conf" $c.customParsers -}}
{{- end -}}
{{- range $key, $content := $c.extraFiles -}}
{{- if hasKey $data $key -}}
{{- fail (printf "fluentBit.config.extraFiles.%s: that file is the chart's (%s is the main config, custom_parsers.conf comes from config.customParsers)" $key $file) -}}
{{- end -}}
{{- $_ := set $data $key $content -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}
