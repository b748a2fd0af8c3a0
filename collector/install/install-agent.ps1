# Install the Upkeep agent on Windows as a service (pywin32). The collector serves this script
# with its own address filled in (GET /install/agent.ps1). Run in an elevated PowerShell:
#   $env:UPKEEP_AGENT_TOKEN = 'upk_…'
#   irm https://collector.example.net/install/agent.ps1 | iex; Install-UpkeepAgent -Site office-a
# Needs Python >= 3.11 (python.org installer, "for all users"). Re-running upgrades the agent.
# Filled in by the collector when it serves the script (collector/install_scripts.py).
$UpkeepCollectorUrl = ""
function Install-UpkeepAgent {
    param(
        [string]$Url = $UpkeepCollectorUrl,
        [string]$Site = "default",
        [string]$Package = "upkeep[windows]",
        [string]$Prefix = "$env:ProgramFiles\Upkeep\agent",
        [string]$ConfigDir = "$env:ProgramData\Upkeep"
    )
    $ErrorActionPreference = "Stop"
    # The py launcher (python.org installer); works in Windows PowerShell 5.1 and PowerShell 7.
    if (-not (Get-Command py -ErrorAction SilentlyContinue)) { throw "Python >= 3.11 (python.org, with the py launcher) is required" }
    & py -3 -c "import sys; sys.exit(sys.version_info < (3, 11))"
    if ($LASTEXITCODE -ne 0) { throw "Python >= 3.11 is required" }
    & py -3 -m venv $Prefix
    & "$Prefix\Scripts\python.exe" -m pip install --quiet --upgrade pip $Package
    # pywin32's service host needs its DLLs registered once per venv.
    & "$Prefix\Scripts\python.exe" "$Prefix\Scripts\pywin32_postinstall.py" -install
    New-Item -ItemType Directory -Force -Path $ConfigDir | Out-Null
    $config = Join-Path $ConfigDir "agent.yaml"
    if (-not (Test-Path $config)) {
        if (-not $Url) { throw "-Url is required for a new install" }
        if (-not $env:UPKEEP_AGENT_TOKEN) { throw "set `$env:UPKEEP_AGENT_TOKEN (upkeep token create --client NAME)" }
        $token = Join-Path $ConfigDir "agent.token"
        Set-Content -Path $token -Value $env:UPKEEP_AGENT_TOKEN -NoNewline
        # Only SYSTEM, LocalService and Administrators may read the token.
        icacls $token /inheritance:r /grant:r "SYSTEM:R" "Administrators:F" "NT AUTHORITY\LocalService:R" | Out-Null
        @"
collector:
  url: $Url
  token_file: $token
site: $Site
"@ | Set-Content -Path $config
    }
    & "$Prefix\Scripts\upkeep-agent.exe" check-config --config $config
    & "$Prefix\Scripts\upkeep-agent.exe" install-service --config $config
    & "$Prefix\Scripts\upkeep-agent.exe" status
}
