{{- define "tollgate.fullname" -}}
{{- printf "%s-tollgate" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tollgate.labels" -}}
app.kubernetes.io/name: tollgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tollgate.gatewaySelector" -}}
app.kubernetes.io/name: tollgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "tollgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A pool's Deployment and Service name; call with (dict "root" $ "name" POOL). */}}
{{- define "tollgate.poolName" -}}
{{- printf "%s-pool-%s" (include "tollgate.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The vllm pools that the chart runs: name -> launch settings. */}}
{{- define "tollgate.pools" -}}
{{- $pools := dict -}}
{{- range $name, $backend := .Values.config.backends -}}
{{- if and (eq $backend.type "vllm") $backend.launch -}}
{{- $launch := deepCopy $backend.launch -}}
{{- if $backend.sleep_mode -}}{{/* as VLLMConfig does: the servers start with sleep mode and its endpoints */}}
{{- $_ := set $launch "sleep_mode" true -}}
{{- $_ := set $launch "env" (merge (dict "VLLM_SERVER_DEV_MODE" "1") ($launch.env | default dict)) -}}
{{- end -}}
{{- $_ := set $pools $name $launch -}}
{{- end -}}
{{- end -}}
{{- toYaml $pools -}}
{{- end -}}

{{/* Seconds from a duration as the config gives it: a number of seconds, or "90s", "15m", "1h". */}}
{{- define "tollgate.seconds" -}}
{{- $v := toString . -}}
{{- if hasSuffix "h" $v -}}{{ mulf (trimSuffix "h" $v | float64) 3600 | ceil | int }}
{{- else if hasSuffix "m" $v -}}{{ mulf (trimSuffix "m" $v | float64) 60 | ceil | int }}
{{- else -}}{{ trimSuffix "s" $v | float64 | ceil | int }}
{{- end -}}
{{- end -}}

{{/* The gateway's config, each served pool pointed at its Service. */}}
{{- define "tollgate.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- range $name, $backend := $config.backends -}}
{{- if and (eq $backend.type "vllm") $backend.launch -}}
{{- $url := printf "http://%s:%v/v1" (include "tollgate.poolName" (dict "root" $ "name" $name)) $.Values.vllm.port -}}
{{- $_ := set $backend "urls" (list $url) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config "journal_dir" "/var/lib/tollgate/journal" -}}
{{- toYaml $config -}}
{{- end -}}

{{/* vLLM server arguments from a launch block: the same list as backends.vllm_launch.server_args(). */}}
{{- define "tollgate.vllmArgs" -}}
{{- $l := . -}}
{{- $gpus := ternary $l.gpus_per_replica 1 (hasKey $l "gpus_per_replica") -}}
{{- $tp := $l.tensor_parallel_size | default (max 1 $gpus) -}}
- --model
- {{ $l.model | quote }}
{{- with $l.served_model_name }}
- --served-model-name
- {{ . | quote }}
{{- end }}
- --tensor-parallel-size
- {{ $tp | toString | quote }}
{{- with $l.quantization }}
- --quantization
- {{ . | quote }}
{{- end }}
{{- if ternary $l.prefix_caching true (hasKey $l "prefix_caching") }}
- --enable-prefix-caching
{{- else }}
- --no-enable-prefix-caching
{{- end }}
- --scheduling-policy
- {{ $l.scheduling | default "fcfs" | quote }}
- --dtype
- {{ $l.dtype | default "auto" | quote }}
{{- with $l.max_model_len }}
- --max-model-len
- {{ . | toString | quote }}
{{- end }}
{{- with $l.gpu_memory_utilization }}
- --gpu-memory-utilization
- {{ . | toString | quote }}
{{- end }}
{{- if $l.enforce_eager }}
- --enforce-eager
{{- end }}
{{- if $l.sleep_mode }}
- --enable-sleep-mode
{{- end }}
{{- range $l.extra_args }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The gateway container's environment: secrets by reference, never in values. */}}
{{- define "tollgate.env" -}}
- name: TOLLGATE_CONFIG
  value: /etc/tollgate/tollgate.yaml
- name: TOLLGATE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.existingSecret }}, key: database-url}}
- name: TOLLGATE_REDIS_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.existingSecret }}, key: redis-url}}
- name: TOLLGATE_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ .Values.existingSecret }}, key: admin-token}}
{{- if .Values.metricsTokenKey }}
- name: TOLLGATE_METRICS_TOKEN
  valueFrom: {secretKeyRef: {name: {{ .Values.existingSecret }}, key: {{ .Values.metricsTokenKey }}}}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" where the cluster serves an API group/version (or assumeCRDs); call with (dict "root" $ "api" "group/version"). */}}
{{- define "tollgate.hasAPI" -}}
{{- if or .root.Values.assumeCRDs (.root.Capabilities.APIVersions.Has .api) }}true{{ end -}}
{{- end -}}

{{- define "tollgate.securityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}
