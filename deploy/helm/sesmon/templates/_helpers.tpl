{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "sesmon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified release name. */}}
{{- define "sesmon.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sesmon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sesmon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sesmon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sesmon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sesmon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sesmon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The port sesmon listens on, taken from config.server.listen so the two cannot disagree. */}}
{{- define "sesmon.port" -}}
{{- $listen := "0.0.0.0:9469" }}
{{- if and .Values.config .Values.config.server .Values.config.server.listen }}
{{- $listen = .Values.config.server.listen }}
{{- end }}
{{- splitList ":" $listen | last | int }}
{{- end }}

{{- define "sesmon.configMapName" -}}
{{- default (include "sesmon.fullname" .) .Values.existingConfigMap }}
{{- end }}
