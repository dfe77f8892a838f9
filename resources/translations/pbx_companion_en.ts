<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>AgentPage</name>
    <message numerus="yes">
        <location filename="../../app/ui/wizard.py" line="+409"/>
        <source>%n PBX user(s) loaded: pick yours.</source>
        <translation>
            <numerusform>%n PBX user loaded: pick yours.</numerusform>
            <numerusform>%n PBX users loaded: pick yours.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>CallPopup</name>
    <message numerus="yes">
        <location filename="../../app/ui/popup.py" line="+250"/>
        <source>%1 and %n more</source>
        <translation>
            <numerusform>%1 and %n more</numerusform>
            <numerusform>%1 and %n more</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+19"/>
        <source>%n or more earlier call(s), last %1</source>
        <translation>
            <numerusform>%n or more earlier call, last %1</numerusform>
            <numerusform>%n or more earlier calls, last %1</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n earlier call(s), last %1</source>
        <translation>
            <numerusform>%n earlier call, last %1</numerusform>
            <numerusform>%n earlier calls, last %1</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ClientCard</name>
    <message numerus="yes">
        <location filename="../../app/ui/card.py" line="+587"/>
        <source>Cancelled: %n call(s) loaded from the PBX.</source>
        <translation>
            <numerusform>Cancelled: %n call loaded from the PBX.</numerusform>
            <numerusform>Cancelled: %n calls loaded from the PBX.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+42"/>
        <source>Exported %n call(s) to %1.</source>
        <translation>
            <numerusform>Exported %n call to %1.</numerusform>
            <numerusform>Exported %n calls to %1.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+136"/>
        <source>Loading older calls from the PBX… %n call(s) so far</source>
        <translation>
            <numerusform>Loading older calls from the PBX… %n call so far</numerusform>
            <numerusform>Loading older calls from the PBX… %n calls so far</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+14"/>
        <source>Loaded %n call(s) from the PBX</source>
        <translation>
            <numerusform>Loaded %n call from the PBX</numerusform>
            <numerusform>Loaded %n calls from the PBX</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n new</source>
        <translation>
            <numerusform>%n new</numerusform>
            <numerusform>%n new</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+7"/>
        <source>%n call(s) loaded from the PBX.</source>
        <translation>
            <numerusform>%n call loaded from the PBX.</numerusform>
            <numerusform>%n calls loaded from the PBX.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>DiagnosticsPanel</name>
    <message numerus="yes">
        <location filename="../../app/ui/diagnostics.py" line="+387"/>
        <source>OK at {time}: %n PBX user(s)</source>
        <translation>
            <numerusform>OK at {time}: %n PBX user</numerusform>
            <numerusform>OK at {time}: %n PBX users</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>DirectoryWindow</name>
    <message numerus="yes">
        <location filename="../../app/ui/directory.py" line="+207"/>
        <source>%n contact(s)</source>
        <translation>
            <numerusform>%n contact</numerusform>
            <numerusform>%n contacts</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Format</name>
    <message numerus="yes">
        <location filename="../../app/ui/format.py" line="+150"/>
        <source>%n call(s)</source>
        <translation>
            <numerusform>%n call</numerusform>
            <numerusform>%n calls</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+3"/>
        <source>%n missed call(s)</source>
        <translation>
            <numerusform>%n missed call</numerusform>
            <numerusform>%n missed calls</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>PbxCompanion</name>
    <message numerus="yes">
        <source>%n missed call(s)</source>
        <translation type="vanished">
            <numerusform>%n missed call</numerusform>
            <numerusform>%n missed calls</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>PbxPage</name>
    <message numerus="yes">
        <location filename="../../app/ui/wizard.py" line="-134"/>
        <source>Connected: %n PBX user(s)</source>
        <translation>
            <numerusform>Connected: %n PBX user</numerusform>
            <numerusform>Connected: %n PBX users</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message numerus="yes">
        <source>Webhook OK: the listener answered the test and listed %n CRM user(s).</source>
        <translation type="vanished">
            <numerusform>Webhook OK: the listener answered the test and listed %n CRM user.</numerusform>
            <numerusform>Webhook OK: the listener answered the test and listed %n CRM users.</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message numerus="yes">
        <location filename="../../app/ui/settings_dialog.py" line="+974"/>
        <source>Connected: %n PBX user(s)</source>
        <translation>
            <numerusform>Connected: %n PBX user</numerusform>
            <numerusform>Connected: %n PBX users</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Shell</name>
    <message numerus="yes">
        <location filename="../../app/ui/shell.py" line="+119"/>
        <source>Do not disturb: %n call(s) held back</source>
        <translation>
            <numerusform>Do not disturb: %n call held back</numerusform>
            <numerusform>Do not disturb: %n calls held back</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>StatusText</name>
    <message numerus="yes">
        <location filename="../../app/ui/tray.py" line="+83"/>
        <source>%n call(s) ringing</source>
        <translation>
            <numerusform>%n call ringing</numerusform>
            <numerusform>%n calls ringing</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n missed call(s)</source>
        <translation>
            <numerusform>%n missed call</numerusform>
            <numerusform>%n missed calls</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>TrayController</name>
    <message numerus="yes">
        <location line="+42"/>
        <source>Missed calls (%n)</source>
        <translation>
            <numerusform>Missed calls (%n)</numerusform>
            <numerusform>Missed calls (%n)</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>WebhookCheckTexts</name>
    <message numerus="yes">
        <location filename="../../app/ui/settings_dialog.py" line="-722"/>
        <source>Webhook OK: the listener answered the test and listed %n CRM user(s).</source>
        <translation>
            <numerusform>Webhook OK: the listener answered the test and listed %n CRM user.</numerusform>
            <numerusform>Webhook OK: the listener answered the test and listed %n CRM users.</numerusform>
        </translation>
    </message>
</context>
</TS>
