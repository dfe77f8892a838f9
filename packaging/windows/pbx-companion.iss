; pbx-companion: per-user Windows installer (Inno Setup 6.3 or newer).
;
; Installs the one-folder PyInstaller bundle (dist\pbx-companion\, built by `pyinstaller build.spec` on
; Windows) for the current user only: no administrator rights, nothing outside the user's profile and
; HKEY_CURRENT_USER. Build it from this folder, after the bundle:
;
;     iscc /DAppVersion=0.1.0 pbx-companion.iss        ->  dist\pbx-companion-0.1.0-setup.exe
;
; What it registers, and why that way (see README.md beside this file):
;   - tel:, callto: and sip: links. Since Windows 8 a program cannot make itself the default for a
;     shared scheme: it declares what it can open (Capabilities\URLAssociations, listed under
;     RegisteredApplications) and the user picks it in Settings > Default apps, which this installer
;     offers to open at the end. Our ProgIDs (pbx-companion.tel, ...) are ours alone and are removed
;     at uninstall. The classic per-scheme keys (Software\Classes\tel\shell\open\command), which
;     Windows uses when the user never chose a default, are written only when no other program
;     handles the scheme, and removed at uninstall only while they still run this program.
;   - "Start at login": the Run value named after the app id, with exactly the data the app's own
;     setting writes (app/core/autostart.py), so the app sees the installer's choice as its own.
;
; Kept in step with the Python code by tests/packaging/test_windows_macos.py (names, ids, version).
; This file is UTF-8 with a byte order mark: Inno Setup needs the mark to read the Russian texts.

#define APP_ID "org.pbxcompanion.PbxCompanion"
#define APP_NAME "pbx-companion"
#define AppExeName "pbx-companion.exe"
#define AppDisplayName "PBX Companion"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
; relative to this file: the bundle and the icon made by `make icons`
#define BundleDir "..\..\dist\pbx-companion"
#define AppIcon "..\..\resources\icons\pbx-companion.ico"
; our own key: the Capabilities that Settings > Default apps reads
#define CapabilitiesKey "Software\pbx-companion\Capabilities"

[Setup]
; Never change AppId: it is how a new version finds the installed one (same folder, tasks, uninstaller).
AppId={{953AA31D-FFF5-4B90-9D18-C1F0C52F9FB7}
AppName={#AppDisplayName}
AppVersion={#AppVersion}
AppPublisher={#APP_NAME}
; per-user: {autopf} is %LOCALAPPDATA%\Programs when Setup runs without administrative rights
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#APP_NAME}
DisableProgramGroupPage=yes
UninstallDisplayName={#AppDisplayName}
UninstallDisplayIcon={app}\{#AppExeName}
SetupIconFile={#AppIcon}
; the license page (MIT, the checkout's LICENSE) shown before installing
LicenseFile=..\..\LICENSE
OutputDir=..\..\dist
OutputBaseFilename={#APP_NAME}-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Qt 6 and the 64-bit PySide6 wheels: Windows 10 or newer, x64 (or Arm64 running x64 code)
MinVersion=10.0
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; A running copy (the tray app) holds its files open: Setup asks Windows' Restart Manager to close it
; before replacing them. Not "force": the app closes its call store properly when asked.
CloseApplications=yes
CloseApplicationsFilter=*.exe,*.dll,*.pyd
RestartApplications=no
; tell Explorer that URL associations changed
ChangesAssociations=yes

[Languages]
Name: "en"; MessagesFile: "compiler:Default.isl"
Name: "ru"; MessagesFile: "compiler:Languages\Russian.isl"

[CustomMessages]
en.AppComment=Call pop-ups and click-to-dial for a cloud PBX
ru.AppComment=Карточки входящих звонков и звонок по клику для облачной АТС
en.StartupGroup=Startup:
ru.StartupGroup=Автозапуск:
en.StartAtLogin=Start {#AppDisplayName} when I sign in to Windows
ru.StartAtLogin=Запускать {#AppDisplayName} при входе в Windows
en.LinkType=%1: link ({#AppDisplayName})
ru.LinkType=Ссылка %1: ({#AppDisplayName})
en.OpenDefaultApps=Choose {#AppDisplayName} for tel:, callto: and sip: links (Settings > Default apps)
ru.OpenDefaultApps=Выбрать {#AppDisplayName} для ссылок tel:, callto: и sip: (Параметры > Приложения по умолчанию)
en.RemoveUserData=Also delete your {#AppDisplayName} settings, call history and logs?%n%n%1%n%nChoose No to keep them for a later installation.
ru.RemoveUserData=Удалить также настройки, историю звонков и журналы {#AppDisplayName}?%n%n%1%n%nВыберите «Нет», чтобы сохранить их для следующей установки.

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "startatlogin"; Description: "{cm:StartAtLogin}"; GroupDescription: "{cm:StartupGroup}"

[InstallDelete]
; An upgrade replaces the bundle's libraries as a whole: a Qt plugin or extension module left over from
; the previous version would be loaded by the new Qt and fail.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppDisplayName}"; Filename: "{app}\{#AppExeName}"; Comment: "{cm:AppComment}"
Name: "{autodesktop}\{#AppDisplayName}"; Filename: "{app}\{#AppExeName}"; Comment: "{cm:AppComment}"; Tasks: desktopicon

[Registry]
; --- Our ProgIDs, one per scheme: what "open a tel: link with PBX Companion" runs. Ours alone, so the
; --- uninstaller deletes each key whole.
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.tel"; ValueType: string; ValueName: ""; ValueData: "{cm:LinkType,tel}"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.tel\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.tel\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.callto"; ValueType: string; ValueName: ""; ValueData: "{cm:LinkType,callto}"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.callto\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.callto\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.sip"; ValueType: string; ValueName: ""; ValueData: "{cm:LinkType,sip}"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.sip\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"
Root: HKCU; Subkey: "Software\Classes\{#APP_NAME}.sip\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""

; --- What the app can open (Windows 8+ Default Programs): Settings > Default apps lists the app under
; --- its ApplicationName and offers it for each scheme in URLAssociations. Our own key, deleted whole.
Root: HKCU; Subkey: "Software\{#APP_NAME}"; Flags: uninsdeletekey
Root: HKCU; Subkey: "{#CapabilitiesKey}"; ValueType: string; ValueName: "ApplicationName"; ValueData: "{#AppDisplayName}"
Root: HKCU; Subkey: "{#CapabilitiesKey}"; ValueType: string; ValueName: "ApplicationDescription"; ValueData: "{cm:AppComment}"
Root: HKCU; Subkey: "{#CapabilitiesKey}"; ValueType: string; ValueName: "ApplicationIcon"; ValueData: """{app}\{#AppExeName}"",0"
Root: HKCU; Subkey: "{#CapabilitiesKey}\URLAssociations"; ValueType: string; ValueName: "tel"; ValueData: "{#APP_NAME}.tel"
Root: HKCU; Subkey: "{#CapabilitiesKey}\URLAssociations"; ValueType: string; ValueName: "callto"; ValueData: "{#APP_NAME}.callto"
Root: HKCU; Subkey: "{#CapabilitiesKey}\URLAssociations"; ValueType: string; ValueName: "sip"; ValueData: "{#APP_NAME}.sip"
; Shared key: only our value goes (its name is also what ms-settings:defaultapps?registeredAppUser= takes).
Root: HKCU; Subkey: "Software\RegisteredApplications"; ValueType: string; ValueName: "{#APP_ID}"; ValueData: "{#CapabilitiesKey}"; Flags: uninsdeletevalue

; --- The classic scheme keys, shared by every program that handles tel:/callto:/sip:. Windows falls
; --- back to them while the user has not chosen a default in Settings. Written only when no other
; --- program's handler is registered (or it is an earlier pbx-companion's): see MayRegisterScheme.
; --- No uninstall flags: the [Code] below removes them only while they still run this installation.
Root: HKCU; Subkey: "Software\Classes\tel"; ValueType: string; ValueName: ""; ValueData: "URL:tel"; Check: MayRegisterScheme('tel')
Root: HKCU; Subkey: "Software\Classes\tel"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""; Check: MayRegisterScheme('tel')
Root: HKCU; Subkey: "Software\Classes\tel\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"; Check: MayRegisterScheme('tel')
Root: HKCU; Subkey: "Software\Classes\tel\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""; Check: MayRegisterScheme('tel')
Root: HKCU; Subkey: "Software\Classes\callto"; ValueType: string; ValueName: ""; ValueData: "URL:callto"; Check: MayRegisterScheme('callto')
Root: HKCU; Subkey: "Software\Classes\callto"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""; Check: MayRegisterScheme('callto')
Root: HKCU; Subkey: "Software\Classes\callto\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"; Check: MayRegisterScheme('callto')
Root: HKCU; Subkey: "Software\Classes\callto\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""; Check: MayRegisterScheme('callto')
Root: HKCU; Subkey: "Software\Classes\sip"; ValueType: string; ValueName: ""; ValueData: "URL:sip"; Check: MayRegisterScheme('sip')
Root: HKCU; Subkey: "Software\Classes\sip"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""; Check: MayRegisterScheme('sip')
Root: HKCU; Subkey: "Software\Classes\sip\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"",0"; Check: MayRegisterScheme('sip')
Root: HKCU; Subkey: "Software\Classes\sip\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExeName}"" ""%1"""; Check: MayRegisterScheme('sip')

; --- Start at login: the value the app's own "Start at login" setting reads and writes (name: the app
; --- id; data: the quoted executable path). Unticking the task does not delete a value the user may
; --- have turned on in the app since; the app's setting (or Task Manager) turns it off.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#APP_ID}"; ValueData: """{app}\{#AppExeName}"""; Tasks: startatlogin
; Uninstall removes the Run value however it was made (this task or the app's setting), and Task
; Manager's on/off switch for it. ValueType none + dontcreatekey writes nothing at install time; the
; uninsdeletevalue flag still records the value for deletion.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "{#APP_ID}"; Flags: dontcreatekey uninsdeletevalue
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"; ValueType: none; ValueName: "{#APP_ID}"; Flags: dontcreatekey uninsdeletevalue

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppDisplayName}}"; Flags: nowait postinstall skipifsilent
; Windows 11 (2023-04 updates and later) opens the app's own page; older versions the Default apps list.
Filename: "ms-settings:defaultapps?registeredAppUser={#APP_ID}"; Description: "{cm:OpenDefaultApps}"; Flags: shellexec nowait postinstall skipifsilent unchecked

[UninstallRun]
; The tray app must not hold its files while they are deleted. Forced: a tray app has no window to
; close; its call store (SQLite, WAL, synchronous=FULL) keeps every committed call through a kill.
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM {#AppExeName}"; Flags: runhidden; RunOnceId: "StopRunningApp"

[Code]
var
  { The schemes whose classic keys this run may write, as ",tel,sip,"; empty until first asked. }
  WritableSchemes: String;

function LinkSchemes(): TArrayOfString;
begin
  SetArrayLength(Result, 3);
  Result[0] := 'tel';
  Result[1] := 'callto';
  Result[2] := 'sip';
end;

{ True when Command runs a pbx-companion.exe (this installation or an earlier one elsewhere). }
function RunsOurProgram(Command: String): Boolean;
begin
  Result := Pos(LowerCase('\{#AppExeName}"'), LowerCase(Command)) > 0;
end;

{ True when nobody handles Scheme yet, or pbx-companion does. HKEY_CLASSES_ROOT is the merged view
  of the user's and the machine's classes, so a handler registered either way counts. }
function SchemeIsFreeOrOurs(Scheme: String): Boolean;
var
  Command: String;
begin
  if RegQueryStringValue(HKEY_CLASSES_ROOT, Scheme + '\shell\open\command', '', Command) then
    Result := RunsOurProgram(Command)
  else
    Result := True;
end;

{ Check of the classic scheme entries in [Registry]. Decided once, before the first of them is written,
  so that our own first entries cannot change the answer for the later ones. }
function MayRegisterScheme(Scheme: String): Boolean;
var
  Schemes: TArrayOfString;
  I: Integer;
begin
  if WritableSchemes = '' then begin
    WritableSchemes := ',';
    Schemes := LinkSchemes();
    for I := 0 to GetArrayLength(Schemes) - 1 do
      if SchemeIsFreeOrOurs(Schemes[I]) then
        WritableSchemes := WritableSchemes + Schemes[I] + ','
      else
        Log('Another program handles ' + Schemes[I] + ': links; its classic registration is left alone');
  end;
  Result := Pos(',' + Scheme + ',', WritableSchemes) > 0;
end;

{ Removes the classic keys of Scheme from HKCU if they still run this installation's executable. A
  handler another program registered (before us or since) is left exactly as it is. }
procedure UnregisterSchemeIfOurs(Scheme: String);
var
  Key, Ours, Command, Icon: String;
  Subkeys: TArrayOfString;
begin
  Key := 'Software\Classes\' + Scheme;
  Ours := LowerCase(ExpandConstant('{app}\{#AppExeName}'));
  if not RegQueryStringValue(HKEY_CURRENT_USER, Key + '\shell\open\command', '', Command) then
    Exit;
  if Pos(Ours, LowerCase(Command)) = 0 then
    Exit;
  RegDeleteKeyIncludingSubkeys(HKEY_CURRENT_USER, Key + '\shell\open\command');
  RegDeleteKeyIfEmpty(HKEY_CURRENT_USER, Key + '\shell\open');
  RegDeleteKeyIfEmpty(HKEY_CURRENT_USER, Key + '\shell');
  if RegQueryStringValue(HKEY_CURRENT_USER, Key + '\DefaultIcon', '', Icon) and (Pos(Ours, LowerCase(Icon)) > 0) then
    RegDeleteKeyIncludingSubkeys(HKEY_CURRENT_USER, Key + '\DefaultIcon');
  { What is left ("URL Protocol" and the description) only said "this scheme opens our program". }
  if RegGetSubkeyNames(HKEY_CURRENT_USER, Key, Subkeys) and (GetArrayLength(Subkeys) = 0) then
    RegDeleteKeyIncludingSubkeys(HKEY_CURRENT_USER, Key);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Schemes: TArrayOfString;
  I: Integer;
  DataDir: String;
begin
  if CurUninstallStep = usUninstall then begin
    Schemes := LinkSchemes();
    for I := 0 to GetArrayLength(Schemes) - 1 do
      UnregisterSchemeIfOurs(Schemes[I]);
  end;
  { Settings, call history and logs (platformdirs' folder for the app) stay unless the user says so:
    a reinstall or an upgrade by uninstalling first keeps them. Never asked in a silent uninstall. }
  if CurUninstallStep = usPostUninstall then begin
    DataDir := ExpandConstant('{localappdata}\{#APP_NAME}');
    if DirExists(DataDir) and not UninstallSilent then
      if MsgBox(FmtMessage(CustomMessage('RemoveUserData'), [DataDir]), mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
        DelTree(DataDir, True, True, True);
  end;
end;
