<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="ru" sourcelanguage="en">
<context>
    <name>AgentPage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="+357"/>
        <source>Who works at this computer</source>
        <translation>Кто работает за этим компьютером</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Your user in the CRM and your PBX extension: pop-ups show your calls, and click-to-dial rings your phone.</source>
        <translation>Ваш пользователь в CRM и ваш внутренний номер АТС: по ним всплывающие окна показывают ваши звонки, а звонок в один клик набирает с вашего телефона.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>CRM user id</source>
        <translation>ID пользователя в CRM</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CRM user name</source>
        <translation>Имя пользователя в CRM</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Load the PBX users to pick your extension</source>
        <translation>Загрузите пользователей АТС, чтобы выбрать свой номер</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Load PBX users</source>
        <translation>Загрузить пользователей АТС</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>PBX user</source>
        <translation>Пользователь АТС</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>PBX extension</source>
        <translation>Внутренний номер</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>Enter the PBX address and key on the first page to load its users.</source>
        <translation>Чтобы загрузить пользователей АТС, укажите её адрес и ключ на первой странице.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Loading the PBX users…</source>
        <translation>Загружаем пользователей АТС…</translation>
    </message>
    <message numerus="yes">
        <location line="+5"/>
        <source>%n PBX user(s) loaded: pick yours.</source>
        <translation>
            <numerusform>Загружен %n пользователь АТС: выберите себя.</numerusform>
            <numerusform>Загружено %n пользователя АТС: выберите себя.</numerusform>
            <numerusform>Загружено %n пользователей АТС: выберите себя.</numerusform>
        </translation>
    </message>
    <message>
        <location line="+28"/>
        <source>Enter your CRM user id.</source>
        <translation>Укажите свой ID пользователя в CRM.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The extension is the digits of your PBX number, for example 9022.</source>
        <translation>Внутренний номер — это цифры вашего номера в АТС, например 9022.</translation>
    </message>
</context>
<context>
    <name>CallPopup</name>
    <message>
        <location filename="../../app/ui/popup.py" line="+110"/>
        <location line="+120"/>
        <source>Incoming call</source>
        <translation>Входящий звонок</translation>
    </message>
    <message>
        <location line="-117"/>
        <source>Dismiss</source>
        <translation>Скрыть</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>Open card</source>
        <translation>Открыть анкету</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Create contact</source>
        <translation>Создать контакт</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+204"/>
        <source>Hold</source>
        <translation>Удержать</translation>
    </message>
    <message>
        <location line="-203"/>
        <source>Call back</source>
        <translation>Перезвонить</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Copy number</source>
        <translation>Скопировать номер</translation>
    </message>
    <message>
        <location line="+86"/>
        <source>Outgoing call</source>
        <extracomment>&quot;Copy number&quot; moves here when the visible buttons do not fit in one row (Russian labels).</extracomment>
        <translation>Исходящий звонок</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Line: %1</source>
        <translation>Линия: %1</translation>
    </message>
    <message numerus="yes">
        <location line="+14"/>
        <source>%1 and %n more</source>
        <translation>
            <numerusform>%1 и ещё %n</numerusform>
            <numerusform>%1 и ещё %n</numerusform>
            <numerusform>%1 и ещё %n</numerusform>
        </translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Unknown caller</source>
        <translation>Неизвестный абонент</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>%1 (you)</source>
        <translation>%1 (вы)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Responsible: %1</source>
        <translation>Ответственный: %1</translation>
    </message>
    <message numerus="yes">
        <location line="+6"/>
        <source>%n or more earlier call(s), last %1</source>
        <translation>
            <numerusform>Не менее %n прошлого звонка, последний %1</numerusform>
            <numerusform>Не менее %n прошлых звонков, последний %1</numerusform>
            <numerusform>Не менее %n прошлых звонков, последний %1</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n earlier call(s), last %1</source>
        <translation>
            <numerusform>%n прошлый звонок, последний %1</numerusform>
            <numerusform>%n прошлых звонка, последний %1</numerusform>
            <numerusform>%n прошлых звонков, последний %1</numerusform>
        </translation>
    </message>
    <message>
        <location line="+3"/>
        <source>No earlier calls</source>
        <translation>Раньше не звонил</translation>
    </message>
    <message>
        <location line="+43"/>
        <source>Answered by %1</source>
        <translation>Ответил %1</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Answered elsewhere</source>
        <translation>Ответил другой сотрудник</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>No answer</source>
        <translation>Нет ответа</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Missed call</source>
        <translation>Пропущенный звонок</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Call ended</source>
        <translation>Звонок завершён</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>On hold</source>
        <translation>На удержании</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Answered</source>
        <translation>Разговор</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Outgoing call · ringing</source>
        <translation>Исходящий звонок · идёт вызов</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Ringing</source>
        <translation>Звонит</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Resume</source>
        <translation>Снять с удержания</translation>
    </message>
</context>
<context>
    <name>ClientCard</name>
    <message>
        <location filename="../../app/ui/card.py" line="+396"/>
        <location line="+559"/>
        <source>Hold</source>
        <translation>Удержать</translation>
    </message>
    <message>
        <location line="-542"/>
        <source>Save</source>
        <translation>Сохранить</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Client</source>
        <translation>Клиент</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>All calls</source>
        <translation>Все звонки</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Incoming</source>
        <translation>Входящие</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Outgoing</source>
        <translation>Исходящие</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>From</source>
        <translation>С</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>to</source>
        <translation>по</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Load older calls from PBX</source>
        <translation>Загрузить более ранние звонки из АТС</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Export CSV…</source>
        <translation>Экспорт в CSV…</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Cancel</source>
        <translation>Отмена</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Note about the selected call</source>
        <translation>Заметка к выбранному звонку</translation>
    </message>
    <message>
        <source>Resolved</source>
        <translation type="vanished">Вопрос решён</translation>
    </message>
    <message>
        <source>Call back</source>
        <translation type="vanished">Перезвонить</translation>
    </message>
    <message>
        <source>Sale</source>
        <translation type="vanished">Продажа</translation>
    </message>
    <message>
        <source>Not interested</source>
        <translation type="vanished">Не заинтересован</translation>
    </message>
    <message>
        <source>Wrong number</source>
        <translation type="vanished">Ошиблись номером</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Outcome of the call</source>
        <translation>Итог звонка</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save note</source>
        <translation>Сохранить заметку</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Outcome</source>
        <translation>Итог</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Calls</source>
        <translation>Звонки</translation>
    </message>
    <message>
        <location line="+53"/>
        <source>Not saved: see the errors above.</source>
        <translation>Не сохранено: исправьте ошибки выше.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Saving…</source>
        <translation>Сохраняем…</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Save a phone number first: the PBX finds calls by number.</source>
        <translation>Сначала сохраните номер телефона: АТС ищет звонки по номеру.</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Asking the PBX…</source>
        <translation>Запрашиваем АТС…</translation>
    </message>
    <message numerus="yes">
        <location line="+10"/>
        <source>Cancelled: %n call(s) loaded from the PBX.</source>
        <translation>
            <numerusform>Отменено: из АТС загружен %n звонок.</numerusform>
            <numerusform>Отменено: из АТС загружено %n звонка.</numerusform>
            <numerusform>Отменено: из АТС загружено %n звонков.</numerusform>
        </translation>
    </message>
    <message>
        <location line="+25"/>
        <source>Note saved.</source>
        <translation>Заметка сохранена.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The note was not saved: %1</source>
        <translation>Заметка не сохранена: %1</translation>
    </message>
    <message numerus="yes">
        <location line="+13"/>
        <source>Exported %n call(s) to %1.</source>
        <translation>
            <numerusform>%n звонок выгружен в %1.</numerusform>
            <numerusform>%n звонка выгружено в %1.</numerusform>
            <numerusform>%n звонков выгружено в %1.</numerusform>
        </translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Could not export: %1</source>
        <translation>Не удалось выгрузить: %1</translation>
    </message>
    <message>
        <location line="+80"/>
        <source>This contact no longer exists; saving creates it again.</source>
        <translation>Этого контакта больше нет; при сохранении он будет создан заново.</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>Could not read the client&apos;s data: %1</source>
        <translation>Не удалось прочитать данные клиента: %1</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Saved.</source>
        <translation>Сохранено.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Not saved.</source>
        <translation>Не сохранено.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Could not save: %1</source>
        <translation>Не удалось сохранить: %1</translation>
    </message>
    <message numerus="yes">
        <location line="+19"/>
        <source>Loading older calls from the PBX… %n call(s) so far</source>
        <translation>
            <numerusform>Загружаем более ранние звонки из АТС… пока %n звонок</numerusform>
            <numerusform>Загружаем более ранние звонки из АТС… пока %n звонка</numerusform>
            <numerusform>Загружаем более ранние звонки из АТС… пока %n звонков</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+14"/>
        <source>Loaded %n call(s) from the PBX</source>
        <translation>
            <numerusform>Из АТС загружен %n звонок</numerusform>
            <numerusform>Из АТС загружено %n звонка</numerusform>
            <numerusform>Из АТС загружено %n звонков</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+1"/>
        <source>%n new</source>
        <translation>
            <numerusform>%n новый</numerusform>
            <numerusform>%n новых</numerusform>
            <numerusform>%n новых</numerusform>
        </translation>
    </message>
    <message>
        <location line="+1"/>
        <source>%1, %2.</source>
        <translation>%1, %2.</translation>
    </message>
    <message numerus="yes">
        <location line="+6"/>
        <source>%n call(s) loaded from the PBX.</source>
        <translation>
            <numerusform>Из АТС загружен %n звонок.</numerusform>
            <numerusform>Из АТС загружено %n звонка.</numerusform>
            <numerusform>Из АТС загружено %n звонков.</numerusform>
        </translation>
    </message>
    <message>
        <location line="+28"/>
        <source>Someone else changed this client meanwhile: Save keeps your version, closing and reopening the card shows theirs.</source>
        <translation>Пока вы редактировали, этого клиента изменил кто-то другой: «Сохранить» оставит вашу версию, а если закрыть и снова открыть карточку, будет видна чужая.</translation>
    </message>
    <message>
        <location line="+108"/>
        <source>%1 of %2</source>
        <translation>%1 из %2</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>New contact</source>
        <translation>Новый контакт</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Client card — %1</source>
        <translation>Анкета клиента — %1</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Call ended</source>
        <translation>Звонок завершён</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Current call: %1</source>
        <translation>Текущий звонок: %1</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Resume</source>
        <translation>Снять с удержания</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Export calls</source>
        <translation>Выгрузка звонков</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CSV files (*.csv)</source>
        <translation>Файлы CSV (*.csv)</translation>
    </message>
</context>
<context>
    <name>CompanionApp</name>
    <message>
        <location filename="../../app/main.py" line="+176"/>
        <source>Calling %1: your phone rings first; answer it and the PBX calls the client.</source>
        <translation>Звоним на %1: сначала зазвонит ваш телефон; снимите трубку, и АТС наберёт клиента.</translation>
    </message>
    <message>
        <source>Missed calls</source>
        <translation type="vanished">Пропущенные звонки</translation>
    </message>
    <message>
        <source>Team</source>
        <translation type="vanished">Команда</translation>
    </message>
    <message>
        <location line="+54"/>
        <location line="+199"/>
        <source>Start at login: %1</source>
        <translation>Запуск при входе в систему: %1</translation>
    </message>
    <message>
        <location line="-63"/>
        <source>The team server refused this app&apos;s token: enter the token the administrator gave you in the settings.</source>
        <translation>Командный сервер отклонил токен приложения: введите в настройках токен, выданный администратором.</translation>
    </message>
    <message>
        <location line="+74"/>
        <source>The webhook now listens on %1</source>
        <translation>Вебхук теперь принимает запросы по адресу %1</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>The new settings could not be applied: %1</source>
        <translation>Не удалось применить новые настройки: %1</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>The new language is used after a restart.</source>
        <translation>Новый язык будет использован после перезапуска.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The new mode or team server is used after a restart of the app.</source>
        <translation>Новый режим или командный сервер будут использоваться после перезапуска приложения.</translation>
    </message>
</context>
<context>
    <name>ContactForm</name>
    <message>
        <location filename="../../app/ui/card.py" line="-802"/>
        <source>Full name</source>
        <translation>Фамилия, имя и отчество</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Anything colleagues should know about this client</source>
        <translation>Всё, что коллегам стоит знать об этом клиенте</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Add number</source>
        <translation>Добавить номер</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>Name</source>
        <translation>Имя</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Company</source>
        <translation>Компания</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Phones</source>
        <translation>Телефоны</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Responsible</source>
        <translation>Ответственный</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>E-mail</source>
        <translation>Эл. почта</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Note</source>
        <translation>Заметка</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>— nobody —</source>
        <translation>— не назначен —</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>%1 (you)</source>
        <translation>%1 (вы)</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>%1 (extension %2)</source>
        <translation>%1 (внутр. %2)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Unknown employee (%1)</source>
        <translation>Неизвестный сотрудник (%1)</translation>
    </message>
    <message>
        <location line="+66"/>
        <source>Enter the client&apos;s name.</source>
        <translation>Укажите имя клиента.</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Not a phone number: %1.</source>
        <translation>Это не номер телефона: %1.</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+5"/>
        <source>Number %1: %2</source>
        <translation>Номер %1: %2</translation>
    </message>
    <message>
        <location line="-2"/>
        <source>The same number as number %1.</source>
        <translation>Этот номер совпадает с номером %1.</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>The e-mail address does not look right.</source>
        <translation>Адрес эл. почты указан неверно.</translation>
    </message>
</context>
<context>
    <name>CrmPage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="-148"/>
        <source>Let the PBX reach this app</source>
        <translation>Подключите АТС к приложению</translation>
    </message>
    <message>
        <source>In the PBX&apos;s “Custom integration” section, paste the webhook URL below and copy the CRM key from there into this page.</source>
        <translation type="vanished">В разделе АТС «Собственная интеграция» вставьте адрес вебхука, указанный ниже, а ключ CRM скопируйте оттуда на эту страницу.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>In the PBX&apos;s “Custom integration” section, paste the webhook URL below. The CRM key is a secret the PBX and this app share: enter the same value there and here (the one the PBX shows, or a long random one: Generate).</source>
        <translation>В разделе АТС «Собственная интеграция» вставьте URL вебхука, указанный ниже. Ключ CRM — общий секрет АТС и этого приложения: введите одно и то же значение там и здесь (тот, что показывает АТС, или длинный случайный — кнопка «Создать»).</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Generate</source>
        <translation>Создать</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>CRM API key</source>
        <translation>Ключ API CRM</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Copy</source>
        <translation>Копировать</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Webhook URL for the PBX</source>
        <translation>Адрес вебхука для АТС</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>A PBX in the cloud cannot reach {host}: publish the listener through a tunnel or a reverse proxy with TLS and paste that public address into the PBX instead; the listener settings are in Settings → Listener.</source>
        <translation>Облачная АТС не может обратиться к {host}: откройте доступ к приёмнику событий через туннель или обратный прокси с TLS и укажите в АТС этот публичный адрес; настройки приёмника — в разделе «Настройки → Приём событий».</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Enter the CRM API key from the PBX.</source>
        <translation>Укажите ключ API CRM из настроек АТС.</translation>
    </message>
</context>
<context>
    <name>DiagnosticsPanel</name>
    <message>
        <location filename="../../app/ui/diagnostics.py" line="+253"/>
        <source>PBX Companion diagnostics</source>
        <translation>Диагностика PBX Companion</translation>
    </message>
    <message>
        <source>Select an event to see its payload (keys and link tokens masked).</source>
        <translation type="vanished">Выберите событие, чтобы увидеть его содержимое (ключи и токены ссылок скрыты).</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Select an event to see its body (keys and link tokens masked).</source>
        <translation>Выберите событие, чтобы увидеть его содержимое (ключи и токены ссылок скрыты).</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Not checked yet.</source>
        <translation>Ещё не проверялась.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Check PBX</source>
        <translation>Проверить АТС</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Refresh</source>
        <translation>Обновить</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Open log folder</source>
        <translation>Открыть папку журнала</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Copy diagnostics</source>
        <translation>Скопировать диагностику</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Listener</source>
        <translation>Приёмник событий</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>PBX</source>
        <translation>АТС</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Log file</source>
        <translation>Файл журнала</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Last events from the PBX (keys and link tokens masked)</source>
        <translation>Последние события от АТС (ключи и токены ссылок скрыты)</translation>
    </message>
    <message>
        <location line="+48"/>
        <source>Could not read the event log: {error}</source>
        <translation>Не удалось прочитать журнал событий: {error}</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>none: the team server {url} is the PBX&apos;s webhook</source>
        <translation>нет: вебхук АТС — командный сервер {url}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>not running</source>
        <translation>не запущен</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>checking…</source>
        <translation>проверяем…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>up</source>
        <translation>работает</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>down</source>
        <translation>не отвечает</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Checking…</source>
        <translation>Проверяем…</translation>
    </message>
    <message numerus="yes">
        <location line="+10"/>
        <source>OK at {time}: %n PBX user(s)</source>
        <translation>
            <numerusform>Работает ({time}): %n пользователь АТС</numerusform>
            <numerusform>Работает ({time}): %n пользователя АТС</numerusform>
            <numerusform>Работает ({time}): %n пользователей АТС</numerusform>
        </translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Failed at {time}: {error}</source>
        <translation>Ошибка ({time}): {error}</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Diagnostics copied to the clipboard.</source>
        <translation>Диагностика скопирована в буфер обмена.</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>No file manager could open {folder}.</source>
        <translation>Не удалось открыть папку {folder}: файловый менеджер не найден.</translation>
    </message>
</context>
<context>
    <name>DialService</name>
    <message>
        <location filename="../../app/ui/dialer.py" line="+106"/>
        <source>Your phone rings first: answer it and the PBX calls {0}.</source>
        <translation>Сначала зазвонит ваш телефон: снимите трубку, и АТС наберёт {0}.</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Already calling {0}: wait for your phone to ring instead of calling again.</source>
        <translation>Звонок на {0} уже идёт: дождитесь, когда зазвонит ваш телефон, и не набирайте повторно.</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>{0} was dialed a moment ago: not dialed again. Wait for your phone to ring.</source>
        <translation>{0} уже набран только что: повторно не набираем. Дождитесь звонка своего телефона.</translation>
    </message>
    <message>
        <location line="+30"/>
        <source>The clipboard is empty: copy a phone number first.</source>
        <translation>Буфер обмена пуст: сначала скопируйте номер телефона.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The clipboard holds no phone number.</source>
        <translation>В буфере обмена нет номера телефона.</translation>
    </message>
</context>
<context>
    <name>DialerListModel</name>
    <message>
        <location line="+91"/>
        <source>Name</source>
        <translation>Имя</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Company</source>
        <translation>Компания</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Number</source>
        <translation>Номер</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Last dialed</source>
        <translation>Последний набор</translation>
    </message>
</context>
<context>
    <name>DialerWindow</name>
    <message>
        <location line="+32"/>
        <source>Dial</source>
        <translation>Набор номера</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Number, contact name or tel: link</source>
        <translation>Номер, имя контакта или ссылка tel:</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Call</source>
        <translation>Позвонить</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Open card</source>
        <translation>Открыть карточку</translation>
    </message>
    <message>
        <location line="+71"/>
        <source>Asking the PBX to call {0}…</source>
        <translation>Просим АТС позвонить на {0}…</translation>
    </message>
    <message>
        <location line="+61"/>
        <source>Will dial {0} ({1})</source>
        <translation>Будет набран {0} ({1})</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Type a number or a contact&apos;s name.</source>
        <translation>Введите номер или имя контакта.</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Choose a number below to call.</source>
        <translation>Выберите номер ниже, чтобы позвонить.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Will dial {0}</source>
        <translation>Будет набран {0}</translation>
    </message>
    <message>
        <location line="+51"/>
        <source>Recent numbers</source>
        <translation>Недавние номера</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>No numbers dialed yet.</source>
        <translation>Вы ещё не набирали номеров.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Contacts</source>
        <translation>Контакты</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>No contact matches.</source>
        <translation>Подходящих контактов нет.</translation>
    </message>
</context>
<context>
    <name>DirectoryModel</name>
    <message>
        <location filename="../../app/ui/directory.py" line="+111"/>
        <source>Name</source>
        <extracomment>Contacts the window lists at most (a narrower search finds the rest). Typing pauses this long before the directory is searched.</extracomment>
        <translation>Имя</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Company</source>
        <translation>Компания</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Numbers</source>
        <translation>Номера</translation>
    </message>
</context>
<context>
    <name>DirectoryWindow</name>
    <message>
        <location line="+18"/>
        <source>Contacts</source>
        <translation>Контакты</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Name, company or number</source>
        <translation>Имя, компания или номер</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>Open card</source>
        <translation>Открыть карточку</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>New contact</source>
        <translation>Новый контакт</translation>
    </message>
    <message numerus="yes">
        <location line="+56"/>
        <source>%n contact(s)</source>
        <translation>
            <numerusform>%n контакт</numerusform>
            <numerusform>%n контакта</numerusform>
            <numerusform>%n контактов</numerusform>
        </translation>
    </message>
    <message>
        <location line="+2"/>
        <source>No contact matches.</source>
        <translation>Подходящих контактов нет.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>New contact creates one with this number.</source>
        <translation>«Новый контакт» создаст контакт с этим номером.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The directory is empty: New contact adds one.</source>
        <translation>Справочник пуст: «Новый контакт» добавит контакт.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Could not search the directory: %1</source>
        <translation>Не удалось выполнить поиск в справочнике: %1</translation>
    </message>
</context>
<context>
    <name>DonePage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="+104"/>
        <location line="+10"/>
        <source>Ready</source>
        <translation>Готово</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Team server: {url}

Finish saves the settings and stores your token in the OS keyring. Everything can be changed later in Settings.</source>
        <translation>Командный сервер: {url}

«Готово» сохранит настройки, а ваш токен — в связке ключей ОС. Всё это можно изменить позже в настройках.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>PBX: {url}
CRM user: {user} {name}
Extension: {extension}

Finish stores both keys in the OS keyring and saves the settings. Everything can be changed later in Settings.</source>
        <translation>АТС: {url}
Пользователь CRM: {user} {name}
Внутренний номер: {extension}

По кнопке «Завершить» оба ключа будут сохранены в хранилище паролей системы, а настройки — в файл. Всё это можно изменить позже в настройках.</translation>
    </message>
</context>
<context>
    <name>EventLogModel</name>
    <message>
        <location filename="../../app/ui/diagnostics.py" line="-302"/>
        <source>refused {status}</source>
        <translation>отклонён {status}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>from {remote}: {reason}</source>
        <translation>от {remote}: {reason}</translation>
    </message>
    <message>
        <location line="+38"/>
        <source>Received</source>
        <translation>Получено</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Event</source>
        <translation>Событие</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Action id</source>
        <translation>ID действия</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Body</source>
        <translation>Содержимое</translation>
    </message>
    <message>
        <source>Payload</source>
        <translation type="vanished">Содержимое</translation>
    </message>
</context>
<context>
    <name>FirstRunWizard</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="+24"/>
        <source>PBX Companion setup</source>
        <translation>Настройка PBX Companion</translation>
    </message>
    <message>
        <location line="+68"/>
        <source>Saved, but the keys were not</source>
        <translation>Настройки сохранены, а ключи — нет</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Close</source>
        <translation>Закрыть</translation>
    </message>
</context>
<context>
    <name>Format</name>
    <message>
        <location filename="../../app/ui/format.py" line="+99"/>
        <source>Hidden number</source>
        <translation>Скрытый номер</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>today %1</source>
        <translation>сегодня в %1</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>yesterday %1</source>
        <translation>вчера в %1</translation>
    </message>
    <message numerus="yes">
        <location line="+26"/>
        <source>%n call(s)</source>
        <translation>
            <numerusform>%n звонок</numerusform>
            <numerusform>%n звонка</numerusform>
            <numerusform>%n звонков</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+3"/>
        <source>%n missed call(s)</source>
        <translation>
            <numerusform>%n пропущенный звонок</numerusform>
            <numerusform>%n пропущенных звонка</numerusform>
            <numerusform>%n пропущенных звонков</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>KeyEdit</name>
    <message>
        <location filename="../../app/ui/settings_dialog.py" line="+484"/>
        <source>•••••• (stored): type a new key to replace it</source>
        <translation>•••••• (сохранён): введите новый ключ, чтобы заменить его</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Paste the key here</source>
        <translation>Вставьте ключ сюда</translation>
    </message>
</context>
<context>
    <name>MissedCallsModel</name>
    <message>
        <location filename="../../app/ui/missed.py" line="+174"/>
        <source>Called line: {0}</source>
        <translation>Набранная линия: {0}</translation>
    </message>
    <message>
        <source>Time</source>
        <translation type="vanished">Время</translation>
    </message>
    <message>
        <location line="-10"/>
        <source>Unknown caller</source>
        <translation>Неизвестный абонент</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>Number</source>
        <translation>Номер</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Contact</source>
        <translation>Контакт</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Last call</source>
        <translation>Последний звонок</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Calls</source>
        <translation>Звонков</translation>
    </message>
    <message>
        <location line="+36"/>
        <source>Could not read the missed calls: {0}</source>
        <translation>Не удалось прочитать пропущенные звонки: {0}</translation>
    </message>
    <message>
        <location line="+60"/>
        <source>Could not dismiss the missed call: {0}</source>
        <translation>Не удалось убрать пропущенный звонок: {0}</translation>
    </message>
</context>
<context>
    <name>MissedCallsPanel</name>
    <message>
        <location line="+26"/>
        <source>Missed calls</source>
        <translation>Пропущенные звонки</translation>
    </message>
    <message>
        <location line="+16"/>
        <location line="+6"/>
        <source>Open card</source>
        <translation>Открыть карточку</translation>
    </message>
    <message>
        <location line="-5"/>
        <location line="+6"/>
        <source>Call back</source>
        <translation>Перезвонить</translation>
    </message>
    <message>
        <location line="-5"/>
        <location line="+6"/>
        <source>Dismiss</source>
        <translation>Убрать</translation>
    </message>
    <message>
        <location line="-5"/>
        <source>Dismiss all</source>
        <translation>Убрать все</translation>
    </message>
    <message>
        <location line="+72"/>
        <source>This caller&apos;s number is unknown: there is nothing to call back.</source>
        <translation>Номер этого абонента неизвестен: перезвонить некуда.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Asking the PBX to call {0}…</source>
        <translation>Просим АТС позвонить на {0}…</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>No missed calls.</source>
        <translation>Пропущенных звонков нет.</translation>
    </message>
</context>
<context>
    <name>ModePage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="-415"/>
        <source>How does this computer get its calls?</source>
        <translation>Как этот компьютер получает звонки?</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>This computer is the webhook (standalone)</source>
        <translation>Этот компьютер — вебхук (автономный режим)</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The PBX posts to this app directly; it keeps its own contacts and calls. For one agent, or to try the app out. You need the PBX&apos;s two keys.</source>
        <translation>АТС обращается к этому приложению напрямую; оно само хранит контакты и звонки. Для одного оператора или чтобы попробовать приложение. Понадобятся два ключа АТС.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Connect to a team server</source>
        <translation>Подключиться к командному серверу</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The call center&apos;s team server is the PBX&apos;s webhook and sends this app your calls. You need its address and your personal token from the administrator.</source>
        <translation>Командный сервер колл-центра — вебхук АТС; он присылает этому приложению ваши звонки. Понадобятся его адрес и ваш личный токен от администратора.</translation>
    </message>
</context>
<context>
    <name>Outcome</name>
    <message>
        <location filename="../../app/ui/format.py" line="-71"/>
        <source>Resolved</source>
        <translation>Вопрос решён</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Call back</source>
        <translation>Перезвонить</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Sale</source>
        <translation>Продажа</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Not interested</source>
        <translation>Не заинтересован</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Wrong number</source>
        <translation>Ошиблись номером</translation>
    </message>
</context>
<context>
    <name>PbxCompanion</name>
    <message numerus="yes">
        <source>%n missed call(s)</source>
        <translation type="vanished">
            <numerusform>%n пропущенный звонок</numerusform>
            <numerusform>%n пропущенных звонка</numerusform>
            <numerusform>%n пропущенных звонков</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>PbxErrors</name>
    <message>
        <location filename="../../app/ui/errors.py" line="+31"/>
        <source>Could not place the call</source>
        <translation>Не удалось позвонить</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Could not load the PBX users</source>
        <translation>Не удалось загрузить пользователей АТС</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Could not switch hold</source>
        <translation>Не удалось переключить удержание</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The PBX request failed</source>
        <translation>Запрос к АТС не выполнен</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>No reply came from the PBX, so it is not known whether the call was placed: your phone may ring. Do not call again until you have checked your phone and the call history.</source>
        <translation>АТС не ответила, поэтому неизвестно, начат ли звонок: ваш телефон может зазвонить. Не звоните повторно, пока не проверите телефон и историю звонков.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>{0}: no reply came from the PBX, so it may have acted; check the call before trying again.</source>
        <translation>{0}: АТС не ответила, но могла выполнить команду; проверьте звонок, прежде чем повторять.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{0}: the PBX did not answer in time; try again later.</source>
        <translation>{0}: АТС не ответила вовремя; попробуйте позже.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{0}: the PBX refused the API key (HTTP {1}). Check the PBX API key in Settings.</source>
        <translation>{0}: АТС не приняла ключ API (HTTP {1}). Проверьте ключ API АТС в настройках.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>{0}: the PBX said no: “{1}”.</source>
        <translation>{0}: АТС отказала: «{1}».</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{0}: the PBX said no (code {1}).</source>
        <translation>{0}: АТС отказала (код {1}).</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{0}: the PBX said no.</source>
        <translation>{0}: АТС отказала.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>the configured address</source>
        <translation>из настроек</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{0}: the PBX at {1} could not be reached{2}. Check the PBX address and your network connection.</source>
        <translation>{0}: АТС по адресу {1} недоступна{2}. Проверьте адрес АТС и подключение к сети.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>{0}: the PBX is receiving too many requests; wait a moment and try again.</source>
        <translation>{0}: АТС перегружена запросами; подождите немного и попробуйте снова.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{0}: the PBX had a server error (HTTP {1}); try again later.</source>
        <translation>{0}: ошибка сервера АТС (HTTP {1}); попробуйте позже.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{0}: the PBX&apos;s reply was not understood. Check the PBX address in Settings.</source>
        <translation>{0}: ответ АТС не удалось разобрать. Проверьте адрес АТС в настройках.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{0}: {1}.</source>
        <translation>{0}: {1}.</translation>
    </message>
    <message>
        <location line="+5"/>
        <location line="+21"/>
        <source>{0}: {1}</source>
        <translation>{0}: {1}</translation>
    </message>
    <message>
        <location line="-13"/>
        <source>{0}: the team server cannot be reached ({1}). The app keeps trying; try again when it says it is connected.</source>
        <translation>{0}: командный сервер недоступен ({1}). Приложение продолжает подключаться; повторите, когда оно сообщит о подключении.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{0}: the team server refused this app&apos;s token. Enter the token the administrator gave you in Settings.</source>
        <translation>{0}: командный сервер отклонил токен приложения. Введите в настройках токен, выданный администратором.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{0}: the team server said no: “{1}”.</source>
        <translation>{0}: командный сервер отказал: «{1}».</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{0}: the PBX said, through the team server: “{1}”.</source>
        <translation>{0}: ответ АТС через командный сервер: «{1}».</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Cannot dial this: {0}.</source>
        <translation>Этот номер не набрать: {0}.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The PBX is not set up: enter the PBX address in Settings.</source>
        <translation>АТС не настроена: укажите адрес АТС в настройках.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The PBX is not set up: enter the PBX API key in Settings.</source>
        <translation>АТС не настроена: укажите ключ API АТС в настройках.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Click-to-dial is not set up: enter this workstation&apos;s CRM user in Settings.</source>
        <translation>Звонок в один клик не настроен: укажите в настройках пользователя CRM для этого рабочего места.</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>The team server is not set up for the PBX yet ({0}): tell the administrator.</source>
        <translation>Командный сервер ещё не настроен для работы с АТС ({0}): сообщите администратору.</translation>
    </message>
</context>
<context>
    <name>PbxPage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="+83"/>
        <source>Connect to the PBX</source>
        <translation>Подключение к АТС</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The address of your cloud PBX and the API key from its “Custom integration” section.</source>
        <translation>Адрес вашей облачной АТС и ключ API из её раздела «Собственная интеграция».</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>PBX address</source>
        <translation>Адрес АТС</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>PBX API key</source>
        <translation>Ключ API АТС</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Test connection</source>
        <translation>Проверить подключение</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Enter the PBX address.</source>
        <translation>Укажите адрес АТС.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Enter the PBX API key.</source>
        <translation>Укажите ключ API АТС.</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Connecting…</source>
        <translation>Подключаемся…</translation>
    </message>
    <message numerus="yes">
        <location line="+5"/>
        <source>Connected: %n PBX user(s)</source>
        <translation>
            <numerusform>Подключено: %n пользователь АТС</numerusform>
            <numerusform>Подключено: %n пользователя АТС</numerusform>
            <numerusform>Подключено: %n пользователей АТС</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>PhoneRow</name>
    <message>
        <location filename="../../app/ui/card.py" line="-220"/>
        <source>Phone number</source>
        <translation>Номер телефона</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>mobile</source>
        <translation>мобильный</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>work</source>
        <translation>рабочий</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>home</source>
        <translation>домашний</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>fax</source>
        <translation>факс</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Label</source>
        <translation>Тип номера</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Call</source>
        <translation>Позвонить</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Remove this number</source>
        <translation>Удалить этот номер</translation>
    </message>
</context>
<context>
    <name>PopupManager</name>
    <message>
        <location filename="../../app/ui/popup.py" line="+325"/>
        <source>Could not read the local directory: %1</source>
        <translation>Не удалось прочитать локальный справочник: %1</translation>
    </message>
</context>
<context>
    <name>PresenceModel</name>
    <message>
        <location filename="../../app/ui/presence.py" line="+150"/>
        <source>unknown</source>
        <translation>неизвестно</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>registered</source>
        <translation>в сети</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>not registered</source>
        <translation>не в сети</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+12"/>
        <source>unknown ({0})</source>
        <translation>неизвестно ({0})</translation>
    </message>
    <message>
        <location line="-5"/>
        <source>available</source>
        <translation>доступен</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>on demand</source>
        <translation>по запросу</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>on break</source>
        <translation>перерыв</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>logged out</source>
        <translation>не в системе</translation>
    </message>
    <message>
        <location line="+28"/>
        <source>on a call</source>
        <translation>разговаривает</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>CRM user id {0}</source>
        <translation>ID пользователя CRM {0}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Not in the PBX&apos;s user list; known from its events.</source>
        <translation>Нет в списке пользователей АТС; известен по её событиям.</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Extension</source>
        <translation>Внутр. номер</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Name</source>
        <translation>Имя</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>CRM user</source>
        <translation>Пользователь CRM</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Phone</source>
        <translation>Телефон</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Call-center status</source>
        <translation>Статус в колл-центре</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Call</source>
        <translation>Звонок</translation>
    </message>
    <message>
        <location line="+124"/>
        <source>Could not read the local team data: {0}</source>
        <translation>Не удалось прочитать локальные данные о команде: {0}</translation>
    </message>
</context>
<context>
    <name>PresencePanel</name>
    <message>
        <location line="+72"/>
        <source>Team</source>
        <translation>Команда</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Search by name or extension</source>
        <translation>Поиск по имени или внутреннему номеру</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Refresh</source>
        <translation>Обновить</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+64"/>
        <source>Call</source>
        <translation>Позвонить</translation>
    </message>
    <message>
        <location line="-52"/>
        <source>Select a colleague, then press Call to call their extension.</source>
        <translation>Выберите коллегу и нажмите «Позвонить», чтобы позвонить на его внутренний номер.</translation>
    </message>
    <message>
        <location line="+55"/>
        <source>Call %1</source>
        <translation>Позвонить на %1</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Call %1 at %2? Press “%3”.</source>
        <translation>Позвонить: %1, номер %2? Нажмите «%3».</translation>
    </message>
    <message>
        <source>Double-click a colleague to call their extension.</source>
        <translation type="vanished">Дважды щёлкните по коллеге, чтобы позвонить на его внутренний номер.</translation>
    </message>
    <message>
        <location line="+13"/>
        <source>Asking the PBX to call {0} ({1})…</source>
        <translation>Просим АТС позвонить: {0} ({1})…</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Loading the PBX users…</source>
        <translation>Загружаем пользователей АТС…</translation>
    </message>
</context>
<context>
    <name>RecordingPlayer</name>
    <message>
        <location filename="../../app/ui/player.py" line="+127"/>
        <location line="+283"/>
        <source>Play</source>
        <extracomment>the only schemes a recording link may have (what the PBX and the team server serve)</extracomment>
        <translation>Воспроизвести</translation>
    </message>
    <message>
        <location line="-277"/>
        <source>Position</source>
        <translation>Позиция</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Playback speed</source>
        <translation>Скорость воспроизведения</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Open link</source>
        <translation>Открыть ссылку</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Retry</source>
        <translation>Повторить</translation>
    </message>
    <message>
        <location line="+150"/>
        <source>This recording comes through the team server: play it here.</source>
        <translation>Эта запись доступна только через командный сервер: прослушайте её здесь.</translation>
    </message>
    <message>
        <location line="+116"/>
        <source>Pause</source>
        <translation>Пауза</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Select a call to hear its recording.</source>
        <translation>Выберите звонок, чтобы прослушать запись.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Recording not ready yet. The PBX publishes it a little after the call.</source>
        <translation>Запись ещё не готова: АТС выкладывает её чуть позже окончания звонка.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>This recording link is not a web address (http or https), so it is neither played nor opened.</source>
        <translation>Ссылка на запись — не веб-адрес (http или https), поэтому она не воспроизводится и не открывается.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Loading the recording…</source>
        <translation>Загружаем запись…</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Finished.</source>
        <translation>Воспроизведение завершено.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>No audio device: the recording plays without sound. Connect speakers or a headset.</source>
        <translation>Нет звукового устройства: запись воспроизводится без звука. Подключите колонки или гарнитуру.</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <location filename="../../app/ui/settings_dialog.py" line="-346"/>
        <source>•••••• (set by the environment variable {var}, which wins over the keyring)</source>
        <extracomment>how long one read of the keyring&apos;s key names answers for every key field (one read per window)</extracomment>
        <translation>•••••• (задан переменной окружения {var}, она важнее хранилища паролей)</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>•••••• (stored)</source>
        <translation>•••••• (сохранён)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>not set</source>
        <translation>не задан</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>The PBX address has an invalid port.</source>
        <translation>В адресе АТС неверный порт.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Enter the PBX address as https://host, for example https://pbx.example.com.</source>
        <translation>Укажите адрес АТС в виде https://адрес, например https://pbx.example.com.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The PBX address must not contain a user name, password, “?…” or “#…”.</source>
        <translation>Адрес АТС не должен содержать имя пользователя, пароль, «?…» или «#…».</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Enter the team server&apos;s address the administrator gave you, e.g. https://team.example.com:8765.</source>
        <translation>Введите адрес командного сервера, который дал администратор, например https://team.example.com:8765.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>The team server&apos;s address starts with https:// (or http://) and names its host, with no user name, query or fragment.</source>
        <translation>Адрес командного сервера начинается с https:// (или http://) и содержит имя хоста, без имени пользователя, параметров запроса и фрагмента.</translation>
    </message>
    <message>
        <location line="+51"/>
        <source>{number} cannot be dialed with this region: {error}</source>
        <translation>С этим регионом номер {number} не набрать: {error}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{number} will be dialed as {dialed}</source>
        <translation>Номер {number} будет набран как {dialed}</translation>
    </message>
    <message>
        <location line="+58"/>
        <source>The keys could not be stored in the OS keyring (there is none here, or it is locked), so nothing was saved.</source>
        <translation>Ключи не удалось сохранить в связке ключей ОС (её здесь нет или она заблокирована), поэтому ничего не сохранено.</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>The settings are saved, but this computer has no usable OS keyring (or it is locked), so the keys were not stored. Unlock or install the desktop&apos;s keyring (GNOME Keyring, KWallet) and enter them in Settings, or give them to the app as environment variables: {variables}.</source>
        <translation>Настройки сохранены, но на этом компьютере нет работающей связки ключей ОС (или она заблокирована), поэтому ключи не сохранены. Разблокируйте или установите связку ключей рабочего стола (GNOME Keyring, KWallet) и введите ключи в настройках — или передайте их приложению через переменные окружения: {variables}.</translation>
    </message>
    <message>
        <location filename="../../app/ui/errors.py" line="+20"/>
        <source>The PBX refused the API key.</source>
        <translation>АТС не приняла ключ API.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The PBX could not be reached.</source>
        <translation>АТС недоступна.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The connection test failed.</source>
        <translation>Проверка подключения не прошла.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Cannot test the connection:</source>
        <translation>Не удаётся проверить подключение:</translation>
    </message>
    <message numerus="yes">
        <source>Webhook OK: the listener answered the test and listed %n CRM user(s).</source>
        <translation type="vanished">
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../app/ui/settings_dialog.py" line="-37"/>
        <source>The listener at {url} is unreachable: {detail}</source>
        <translation>Приёмник событий по адресу {url} недоступен: {detail}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The listener refused the CRM API key (HTTP 401): the key entered here differs from the one the running listener uses. Enter the same key as in the PBX; after saving a new key, restart the app.</source>
        <translation>Приёмник событий не принял ключ API CRM (HTTP 401): указанный здесь ключ не совпадает с тем, с которым работает приёмник. Укажите тот же ключ, что и в АТС; после сохранения нового ключа перезапустите приложение.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The listener at {url} answered with an error: {detail}</source>
        <translation>Приёмник событий по адресу {url} ответил ошибкой: {detail}</translation>
    </message>
    <message>
        <source>The keys could not be stored in the OS keyring, so nothing was saved: {error}</source>
        <translation type="vanished">Не удалось сохранить ключи в хранилище паролей системы, поэтому ничего не сохранено: {error}</translation>
    </message>
    <message>
        <location line="+84"/>
        <source>The port must be a number from 0 to 65535.</source>
        <translation>Порт — это число от 0 до 65535.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Enter the address to listen on (127.0.0.1: this computer only).</source>
        <translation>Укажите адрес для приёма событий (127.0.0.1 — только этот компьютер).</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>TLS needs both the certificate and its private key.</source>
        <translation>Для TLS нужны и сертификат, и его закрытый ключ.</translation>
    </message>
    <message>
        <location line="+4"/>
        <location line="+9"/>
        <source>File not found: {path}</source>
        <translation>Файл не найден: {path}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The extension is the digits of your PBX number, for example 9022.</source>
        <translation>Внутренний номер — это цифры вашего номера в АТС, например 9022.</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location line="+166"/>
        <source>PBX Companion settings</source>
        <translation>Настройки PBX Companion</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Connection</source>
        <translation>Подключение</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Listener</source>
        <translation>Приём событий</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Agent</source>
        <translation>Сотрудник</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Calls</source>
        <translation>Звонки</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>General</source>
        <translation>Общие</translation>
    </message>
    <message>
        <location line="+84"/>
        <source>PBX address</source>
        <translation>Адрес АТС</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The key from the PBX&apos;s “Custom integration” section; the app sends it to the PBX. Stored in the OS keyring.</source>
        <translation>Ключ из раздела АТС «Собственная интеграция»; приложение передаёт его АТС. Хранится в хранилище паролей системы.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>PBX API key</source>
        <translation>Ключ API АТС</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The key the PBX sends to this app&apos;s webhook (“CRM key” in the PBX&apos;s “Custom integration” section). Stored in the OS keyring.</source>
        <translation>Ключ, который АТС передаёт вебхуку приложения («ключ CRM» в разделе АТС «Собственная интеграция»). Хранится в хранилище паролей системы.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CRM API key</source>
        <translation>Ключ API CRM</translation>
    </message>
    <message>
        <location line="-33"/>
        <location line="+35"/>
        <source>Test connection</source>
        <translation>Проверить подключение</translation>
    </message>
    <message>
        <location line="-68"/>
        <source>This computer is the webhook (standalone)</source>
        <translation>Этот компьютер — вебхук (автономный режим)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Connect to a team server</source>
        <translation>Подключиться к командному серверу</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The PBX posts to this app; it keeps its own contacts and calls.</source>
        <translation>АТС обращается к этому приложению; оно само хранит контакты и звонки.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The team server is the PBX&apos;s webhook for the whole call center and sends this app your calls; it keeps the keys and the contacts.</source>
        <translation>Командный сервер — вебхук АТС для всего колл-центра; он присылает этому приложению ваши звонки и хранит ключи и контакты.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Team server</source>
        <translation>Командный сервер</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>PBX</source>
        <translation>АТС</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Server address</source>
        <translation>Адрес сервера</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Your personal token, from the administrator (pbx-companion agents add). Stored in the OS keyring.</source>
        <translation>Ваш личный токен от администратора (pbx-companion agents add). Хранится в связке ключей ОС.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Your token</source>
        <translation>Ваш токен</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>only for a certificate of the team&apos;s own CA</source>
        <translation>только для сертификата собственного УЦ команды</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>CA certificate</source>
        <translation>Сертификат УЦ</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>The team server has the PBX&apos;s keys and address and tells this app who you are: nothing else to enter.</source>
        <translation>Ключи и адрес АТС есть у командного сервера, и он сообщает приложению, кто вы: больше ничего вводить не нужно.</translation>
    </message>
    <message>
        <location line="+39"/>
        <source>Listen on address</source>
        <translation>Адрес для приёма событий</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Port</source>
        <translation>Порт</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>TLS certificate</source>
        <translation>Сертификат TLS</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>TLS private key</source>
        <translation>Закрытый ключ TLS</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Copy</source>
        <translation>Копировать</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Webhook URL for the PBX</source>
        <translation>Адрес вебхука для АТС</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Webhook self-test</source>
        <translation>Проверить вебхук</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Browse…</source>
        <translation>Обзор…</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Choose a file</source>
        <translation>Выберите файл</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Your user id in the CRM, as mapped in the PBX&apos;s integration settings; click-to-dial calls are placed as this user.</source>
        <translation>Ваш ID пользователя в CRM, как он сопоставлен в настройках интеграции АТС; звонки в один клик совершаются от имени этого пользователя.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CRM user id</source>
        <translation>ID пользователя в CRM</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CRM user name</source>
        <translation>Имя пользователя в CRM</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>PBX extension</source>
        <translation>Внутренний номер</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Default region</source>
        <translation>Регион по умолчанию</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Automatic (Russian numbers as 8…, others as +…)</source>
        <translation>Автоматически (российские номера через 8…, остальные через +…)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>International with + (+74951343060)</source>
        <translation>Международный с + (+74951343060)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>International digits (74951343060)</source>
        <translation>Международный, только цифры (74951343060)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>National format of the default region</source>
        <translation>Национальный формат региона по умолчанию</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Dial format</source>
        <translation>Формат набора</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Pop up for every call of the team (supervisors)</source>
        <translation>Показывать окно для всех звонков команды (для руководителей)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Do not disturb: no pop-ups, only the tray badge</source>
        <translation>Не беспокоить: без всплывающих окон, только счётчик на значке в трее</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Play a ring sound with the pop-up</source>
        <translation>Звуковой сигнал при всплывающем окне</translation>
    </message>
    <message>
        <location line="+5"/>
        <location line="+11"/>
        <source> s</source>
        <translation> с</translation>
    </message>
    <message>
        <location line="-7"/>
        <source>Keep the pop-up after the call ends for</source>
        <translation>Не закрывать окно после окончания звонка ещё</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Show the in-call window for my outgoing calls too</source>
        <translation>Показывать окно звонка и для моих исходящих звонков</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>A number asked for again within this time (a double-clicked link) is dialed once; 0 dials every time.</source>
        <translation>Номер, запрошенный повторно за это время (двойной щелчок по ссылке), набирается один раз; 0 — набирать каждый раз.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Dial the same number once within</source>
        <translation>Набирать один и тот же номер не чаще, чем раз в</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Start at login</source>
        <translation>Запускать при входе в систему</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Start {app} when you log in to this computer. Saving adds it to or removes it from the system&apos;s startup applications.</source>
        <translation>Запускать {app} при входе в систему на этом компьютере. При сохранении приложение добавляется в автозагрузку системы или удаляется из неё.</translation>
    </message>
    <message>
        <source>Only the choice is stored for now: the installer sets up the autostart entry.</source>
        <translation type="vanished">Пока сохраняется только сам выбор: автозапуск настраивает установщик.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>System language</source>
        <translation>Язык системы</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Language</source>
        <translation>Язык</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>A new language takes effect after a restart.</source>
        <translation>Новый язык вступит в силу после перезапуска.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Theme</source>
        <translation>Оформление</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>The app follows the system&apos;s light or dark theme; there is nothing to set.</source>
        <translation>Приложение следует светлой или тёмной теме системы; настраивать ничего не нужно.</translation>
    </message>
    <message>
        <location line="+81"/>
        <location line="+7"/>
        <source>Nothing was saved: correct the marked fields.</source>
        <translation>Ничего не сохранено: исправьте отмеченные поля.</translation>
    </message>
    <message>
        <location line="-2"/>
        <source>A key has at least {count} characters: paste the whole key.</source>
        <translation>Ключ состоит как минимум из {count} символов: вставьте ключ целиком.</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Nothing was saved: the keys cannot be kept safely here. Clear the key fields to save the other settings, and set the keys in the environment ({variables}).</source>
        <translation>Ничего не сохранено: здесь негде безопасно хранить ключи. Очистите поля ключей, чтобы сохранить остальные настройки, а ключи задайте переменными окружения ({variables}).</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>The settings file could not be written.</source>
        <translation>Не удалось записать файл настроек.</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Saved to {path}.</source>
        <translation>Сохранено в {path}.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Restart the app to apply the new listener settings; update the webhook URL in the PBX if it changed.</source>
        <translation>Перезапустите приложение, чтобы применить новые настройки приёма событий; если адрес вебхука изменился, обновите его в АТС.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The new language takes effect after a restart.</source>
        <translation>Новый язык вступит в силу после перезапуска.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Restart the app to connect with the new mode, team server or token.</source>
        <translation>Перезапустите приложение, чтобы подключиться в новом режиме, к новому серверу или с новым токеном.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Restart the app to use the new connection and agent settings.</source>
        <translation>Перезапустите приложение, чтобы применить новые настройки подключения и сотрудника.</translation>
    </message>
    <message>
        <location line="+31"/>
        <source>This URL applies after the app restarts.</source>
        <translation>Этот адрес заработает после перезапуска приложения.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>A PBX in the cloud cannot reach {host}: publish the listener through a tunnel or a reverse proxy with TLS and paste that public address into the PBX instead.</source>
        <translation>Облачная АТС не может обратиться к {host}: откройте доступ к приёмнику событий через туннель или обратный прокси с TLS и укажите в АТС этот публичный адрес.</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>Enter the PBX address first.</source>
        <translation>Сначала укажите адрес АТС.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Enter the PBX API key first.</source>
        <translation>Сначала укажите ключ API АТС.</translation>
    </message>
    <message>
        <location line="+3"/>
        <location line="+31"/>
        <source>Connecting…</source>
        <translation>Подключаемся…</translation>
    </message>
    <message numerus="yes">
        <location line="-27"/>
        <source>Connected: %n PBX user(s)</source>
        <translation>
            <numerusform>Подключено: %n пользователь АТС</numerusform>
            <numerusform>Подключено: %n пользователя АТС</numerusform>
            <numerusform>Подключено: %n пользователей АТС</numerusform>
        </translation>
    </message>
    <message>
        <location line="+19"/>
        <source>Enter your token first.</source>
        <translation>Сначала введите токен.</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>The listener is not running.</source>
        <translation>Приёмник событий не запущен.</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Testing…</source>
        <translation>Проверяем…</translation>
    </message>
</context>
<context>
    <name>Shell</name>
    <message numerus="yes">
        <location filename="../../app/ui/shell.py" line="+119"/>
        <source>Do not disturb: %n call(s) held back</source>
        <translation>
            <numerusform>Не беспокоить: %n звонок без окна</numerusform>
            <numerusform>Не беспокоить: %n звонка без окна</numerusform>
            <numerusform>Не беспокоить: %n звонков без окна</numerusform>
        </translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Do not disturb</source>
        <translation>Не беспокоить</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>%1 is calling: no pop-up while do not disturb is on or you are on a break.</source>
        <translation>Звонит %1: окно не показано, пока включён режим «Не беспокоить» или вы на перерыве.</translation>
    </message>
    <message>
        <location line="+28"/>
        <source>Missed calls</source>
        <translation>Пропущенные звонки</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Team</source>
        <translation>Команда</translation>
    </message>
</context>
<context>
    <name>ShellActions</name>
    <message>
        <location filename="../../app/ui/tray.py" line="+53"/>
        <source>Dial a number…</source>
        <translation>Набрать номер…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Dial clipboard</source>
        <translation>Позвонить по номеру из буфера</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Contacts…</source>
        <translation>Контакты…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Missed calls</source>
        <translation>Пропущенные звонки</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Team</source>
        <translation>Команда</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Settings…</source>
        <translation>Настройки…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Diagnostics…</source>
        <translation>Диагностика…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Do not disturb</source>
        <translation>Не беспокоить</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Quit</source>
        <translation>Выход</translation>
    </message>
</context>
<context>
    <name>StatusText</name>
    <message>
        <location line="+9"/>
        <source>Connecting to the team server…</source>
        <translation>Подключение к командному серверу…</translation>
    </message>
    <message>
        <source>Offline: team server unreachable</source>
        <translation type="vanished">Нет связи: командный сервер недоступен</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Offline: team server unreachable; the app keeps trying</source>
        <translation>Нет связи: командный сервер недоступен; приложение продолжает подключаться</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Offline: the team server refused this app&apos;s token; enter a new token in the settings</source>
        <translation>Нет связи: командный сервер отклонил токен приложения; введите новый токен в настройках</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Offline: the webhook listener is not running</source>
        <translation>Нет связи: приёмник событий не запущен</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>PBX problem: %1</source>
        <translation>Проблема с АТС: %1</translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n call(s) ringing</source>
        <translation>
            <numerusform>%n звонок ждёт ответа</numerusform>
            <numerusform>%n звонка ждут ответа</numerusform>
            <numerusform>%n звонков ждут ответа</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location line="+2"/>
        <source>%n missed call(s)</source>
        <translation>
            <numerusform>%n пропущенный звонок</numerusform>
            <numerusform>%n пропущенных звонка</numerusform>
            <numerusform>%n пропущенных звонков</numerusform>
        </translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Ready: waiting for calls</source>
        <translation>Готово: ждём звонков</translation>
    </message>
</context>
<context>
    <name>TeamCheckTexts</name>
    <message>
        <location filename="../../app/ui/settings_dialog.py" line="-829"/>
        <source>CRM user {id}</source>
        <translation>пользователь CRM {id}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>extension {ext}</source>
        <translation>добавочный {ext}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>supervisor: every call of the team</source>
        <translation>супервайзер: все звонки команды</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Connected as {name}</source>
        <translation>Подключено как {name}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The team server itself lacks a setting ({setting}): tell the administrator.</source>
        <translation>На самом командном сервере не задана настройка ({setting}): сообщите администратору.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>The address does not work</source>
        <translation>Адрес не работает</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The secure connection (TLS) failed</source>
        <translation>Не удалось установить защищённое соединение (TLS)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The token was refused</source>
        <translation>Токен отклонён</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The team server failed</source>
        <translation>Ошибка командного сервера</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The live feed of calls failed</source>
        <translation>Не удалось получить поток звонков</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The connection failed</source>
        <translation>Подключиться не удалось</translation>
    </message>
</context>
<context>
    <name>TeamPage</name>
    <message>
        <location filename="../../app/ui/wizard.py" line="-104"/>
        <source>Connect to the team server</source>
        <translation>Подключение к командному серверу</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The address and your personal token, both from the administrator. The server has the PBX&apos;s keys and tells this app who you are.</source>
        <translation>Адрес и ваш личный токен — оба от администратора. Ключи АТС есть у сервера, и он сообщает приложению, кто вы.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Server address</source>
        <translation>Адрес сервера</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Your token</source>
        <translation>Ваш токен</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>only for a certificate of the team&apos;s own CA</source>
        <translation>только для сертификата собственного УЦ команды</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>CA certificate</source>
        <translation>Сертификат УЦ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Test connection</source>
        <translation>Проверить подключение</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>File not found: {path}</source>
        <translation>Файл не найден: {path}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Enter your token.</source>
        <translation>Введите токен.</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Connecting…</source>
        <translation>Подключаемся…</translation>
    </message>
</context>
<context>
    <name>Timeline</name>
    <message>
        <location filename="../../app/ui/timeline.py" line="+66"/>
        <source>Answered</source>
        <translation>Отвечен</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Missed</source>
        <translation>Пропущен</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Not answered</source>
        <translation>Без ответа</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Busy</source>
        <translation>Занято</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Answered by a colleague</source>
        <translation>Ответил коллега</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Ringing</source>
        <translation>Вызов</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>In progress</source>
        <translation>Идёт разговор</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>On hold</source>
        <translation>На удержании</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Incoming</source>
        <translation>Входящий</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Outgoing</source>
        <translation>Исходящий</translation>
    </message>
</context>
<context>
    <name>TimelineModel</name>
    <message>
        <location line="+42"/>
        <source>Time</source>
        <translation>Время</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Direction</source>
        <translation>Направление</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Number</source>
        <translation>Номер</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Duration</source>
        <translation>Длительность</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Talk time</source>
        <translation>Разговор</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Status</source>
        <translation>Статус</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Recording</source>
        <translation>Запись</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Note</source>
        <translation>Заметка</translation>
    </message>
    <message>
        <location line="+59"/>
        <location line="+346"/>
        <source>Yes</source>
        <extracomment>a whole number in the number column what the note column keeps before headers and long statuses take room from it</extracomment>
        <translation>Есть</translation>
    </message>
</context>
<context>
    <name>TrayController</name>
    <message numerus="yes">
        <location filename="../../app/ui/tray.py" line="+41"/>
        <source>Missed calls (%n)</source>
        <translation>
            <numerusform>Пропущенные звонки (%n)</numerusform>
            <numerusform>Пропущенные звонки (%n)</numerusform>
            <numerusform>Пропущенные звонки (%n)</numerusform>
        </translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Missed calls</source>
        <translation>Пропущенные звонки</translation>
    </message>
</context>
<context>
    <name>WebhookCheckTexts</name>
    <message numerus="yes">
        <location filename="../../app/ui/settings_dialog.py" line="+43"/>
        <source>Webhook OK: the listener answered the test and listed %n CRM user(s).</source>
        <translation>
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
            <numerusform>Вебхук работает: приёмник ответил на проверку, пользователей CRM в списке: %n.</numerusform>
        </translation>
    </message>
</context>
</TS>
